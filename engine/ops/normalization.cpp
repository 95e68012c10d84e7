// Normalization ops: BatchNormalization (inference and training mode), LRN,
// InstanceNormalization, LayerNormalization. Statistics are computed in double
// by sequential loops per channel / instance / row, so results do not depend on
// how the work is split over threads.
#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "kernels/reference/normalization.h"
#include "kernels/simd/affine.h"
#include "kernels/simd/affine_act.h"
#include "kernels/simd/reduce.h"
#include "ops/batchnorm_mode.h"
#include "ops/fused.h"
#include "ops/op_util.h"
#include "runtime/parallel.h"

namespace kiln::ops {

namespace {

// Elements per parallel task below which splitting is not worth it.
constexpr int64_t kMinTaskElems = int64_t{1} << 15;

int64_t grain_for(int64_t elems_per_item) {
  return std::max<int64_t>(1, kMinTaskElems / std::max<int64_t>(1, elems_per_item));
}

int64_t product(const std::vector<int64_t>& d, size_t from, size_t to) {
  int64_t p = 1;
  for (size_t i = from; i < to; ++i) p *= d[i];
  return p;
}

// A float32/float64 tensor's values as double.
std::vector<double> to_doubles(const Tensor& t) {
  std::vector<double> v(static_cast<size_t>(t.numel()));
  if (t.dtype() == DType::Float32) std::copy_n(t.data_as<float>(), v.size(), v.begin());
  else std::copy_n(t.data_as<double>(), v.size(), v.begin());
  return v;
}

// Allocates output i with `dtype` (float32/float64) and the values of v.
void write_doubles(ComputeContext& ctx, size_t i, DType dtype, std::vector<int64_t> shape,
                   const std::vector<double>& v) {
  Tensor& t = ctx.allocate_output(i, dtype, std::move(shape));
  if (dtype == DType::Float32) {
    float* out = t.data_as<float>();
    for (size_t k = 0; k < v.size(); ++k) out[k] = static_cast<float>(v[k]);
  } else {
    std::copy(v.begin(), v.end(), t.data_as<double>());
  }
}

void require_float(const InferContext& ctx, size_t i) { require_dtype(ctx, i, {DType::Float32, DType::Float64}); }

// Calls f(T{}) for a float32/float64 tensor dtype.
template <class F>
void dispatch_float(DType t, const ComputeContext& ctx, F&& f) {
  if (t == DType::Float32) f(float{});
  else if (t == DType::Float64) f(double{});
  else ctx.fail("dtype " + dtype_name(t) + " is not supported (float32, float64)");
}

// True when partially-known dims a and b cannot be equal.
bool dims_conflict(int64_t a, int64_t b) { return a >= 0 && b >= 0 && a != b; }

// ------------------------------------------------------------ BatchNormalization
//
// X is viewed as N×C×S: channel axis 1, S = product of the dims after it (a 1-D
// X of size N is N×1×1). With spatial=0 (opsets < 9) every feature C×D1×…×Dn is
// its own channel: C = product of dims after 0, S = 1.
//
// Inference:  y = (x − mean)/sqrt(var + eps)·scale + B = x·s[c] + t[c],
//             s = scale/sqrt(var + eps), t = B − mean·s.
// Training:   the same with the batch statistics μ_B, σ²_B (mean and population
//             variance over all axes but the channel axis), and
//             running_mean = mean·momentum + μ_B·(1 − momentum), running_var likewise
//             with σ²_B; opsets < 14 also output saved_mean = μ_B, saved_var = σ²_B.
// Training mode is the `training_mode` attribute from opset 14; before, it is
// signalled by asking for any of the extra outputs.

bool bn_spatial(const ir::Node& n) { return n.opset >= 9 || n.attr_int("spatial", 1) != 0; }

// Whether the node runs in training mode (the model's choice unless the
// session's BatchNormMode overrides it); `fail` reports contradictory settings
// in the model.
template <class Fail>
bool bn_training(const ir::Node& n, Fail&& fail) {
  bool extra = false;
  for (size_t i = 1; i < n.outputs.size(); ++i) extra = extra || n.has_output(i);
  if (n.opset >= 14) {
    const bool training = n.attr_int("training_mode", 0) != 0;
    if (!training && extra && !n.has_attr(kBatchNormModeAttr))
      fail("outputs running_mean/running_var are only produced with training_mode=1");
  } else if (n.opset < 7 && extra && n.attr_int("is_test", 0) != 0) {
    fail("is_test=1 (inference) but training-mode outputs (mean, var, saved_mean, saved_var) are requested");
  }
  return batchnorm_is_training(n);
}

void infer_batchnorm(InferContext& ctx) {
  const ir::Node& n = ctx.node();
  require_float(ctx, 0);
  for (size_t i = 1; i < 5; ++i) require_float(ctx, i);
  // Dtype groups: opsets < 14 one T; 14: T (X, scale, B), U (mean, var);
  // 15: T (X), T1 (scale, B), T2 (mean, var).
  if (n.opset < 15) require_same_dtype(ctx, 0, 1);
  require_same_dtype(ctx, 1, 2);
  require_same_dtype(ctx, 3, 4);
  if (n.opset < 14) require_same_dtype(ctx, 0, 3);
  bn_training(n, [&](const std::string& m) { ctx.fail(m); });
  const bool spatial = bn_spatial(n);

  const ir::Shape& x = in_shape(ctx, 0);
  ir::Shape stat = ir::Shape::unknown();  // expected shape of scale, B, mean, var
  if (x.known) {
    const size_t min_rank = n.opset >= 9 ? 1 : 2;
    if (x.rank() < min_rank)
      ctx.fail("X must have rank >= " + std::to_string(min_rank) + " (N x C x D1 ...), got shape " + x.str());
    if (x.rank() == 1) stat = known({1});
    else if (spatial) stat = known({x.dims[1]});
    else stat = known(std::vector<int64_t>(x.dims.begin() + 1, x.dims.end()));
  }
  static const char* names[] = {"X", "scale", "B", "mean", "var"};
  for (size_t i = 1; i < 5; ++i) {
    const ir::Shape& p = in_shape(ctx, i);
    if (!p.known) continue;
    if (spatial && p.rank() != 1) ctx.fail(std::string(names[i]) + " must be 1-D [C], got shape " + p.str());
    if (!stat.known) continue;
    bool bad = p.rank() != stat.rank();
    for (size_t k = 0; !bad && k < p.rank(); ++k) bad = dims_conflict(p.dims[k], stat.dims[k]);
    if (bad)
      ctx.fail(std::string(names[i]) + " has shape " + p.str() + " but X " + x.str() + " needs " + stat.str() +
               (spatial ? " (one value per channel, axis 1)" : " (spatial=0: one value per feature)"));
  }
  if (!stat.known) stat = in_shape(ctx, 3);
  ctx.set_output(0, ctx.input(0).dtype, x);
  for (size_t i = 1; i < ctx.num_outputs(); ++i)
    ctx.set_output(i, i <= 2 ? ctx.input(3).dtype : ctx.input(0).dtype, stat);
}

// Batch mean and population variance per channel of an N×C×S tensor (two
// passes: mean, then squared deviations), parallel over channels.
template <class T>
void batch_moments(const T* x, int64_t N, int64_t C, int64_t S, std::vector<double>& mu, std::vector<double>& sigma2) {
  runtime::parallel_for(C, grain_for(N * S), [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) {
      const kernels::ref::Moments m = kernels::ref::group_moments(x + c * S, N, C * S, S);
      mu[c] = m.mean;
      sigma2[c] = m.var;
    }
  });
}

// float32: the same two passes with the SIMD row sums; each channel's runs are
// summed in a fixed order, so results do not depend on the thread count.
void batch_moments(const float* x, int64_t N, int64_t C, int64_t S, std::vector<double>& mu,
                   std::vector<double>& sigma2) {
  auto sum = simd::dispatch(simd::sum_f32{});
  auto sq = simd::dispatch(simd::sum_sq_dev_f32{});
  runtime::parallel_for(C, grain_for(N * S), [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) {
      const float* xc = x + c * S;
      const double count = static_cast<double>(N * S);
      if (count == 0) {
        mu[c] = sigma2[c] = std::numeric_limits<double>::quiet_NaN();
        continue;
      }
      double s1 = 0, s2 = 0;
      for (int64_t n = 0; n < N; ++n) s1 += sum(xc + n * C * S, S);
      mu[c] = s1 / count;
      for (int64_t n = 0; n < N; ++n) s2 += sq(xc + n * C * S, S, static_cast<float>(mu[c]));
      sigma2[c] = s2 / count;
    }
  });
}

template <class T>
void batchnorm_typed(ComputeContext& ctx, bool training) {
  const ir::Node& n = ctx.node();
  const Tensor& xt = ctx.input(0);
  const std::vector<int64_t>& xs = xt.shape();
  if (xs.empty()) ctx.fail("X must have rank >= 1, got a scalar");
  if (xs.size() == 1 && n.opset < 9) ctx.fail("X must have rank >= 2 (N x C x D1 ...) before opset 9");
  const bool spatial = bn_spatial(n);
  const int64_t N = xs[0];
  const int64_t C = xs.size() == 1 ? 1 : spatial ? xs[1] : product(xs, 1, xs.size());
  const int64_t S = xs.size() == 1 || !spatial ? 1 : product(xs, 2, xs.size());
  std::vector<int64_t> stat_shape = {C};
  if (!spatial && xs.size() > 2) stat_shape.assign(xs.begin() + 1, xs.end());

  static const char* names[] = {"X", "scale", "B", "mean", "var"};
  std::vector<double> p[5];
  for (size_t i = 1; i < 5; ++i) {
    const Tensor& t = ctx.input(i);
    if (t.shape() != stat_shape)
      ctx.fail(std::string(names[i]) + " has shape " + shape_to_string(t.shape()) + " but X " + shape_to_string(xs) +
               " needs " + shape_to_string(stat_shape));
    p[i] = to_doubles(t);
  }
  const std::vector<double>&scale = p[1], &bias = p[2], &mean = p[3], &var = p[4];
  const double eps = n.attr_float("epsilon", 1e-5f);
  const T* x = xt.data_as<T>();

  // Per-channel statistics: the given ones, or the batch's (parallel over channels).
  std::vector<double> mu = mean, sigma2 = var;
  if (training) batch_moments(x, N, C, S, mu, sigma2);
  std::vector<double> s(C), t(C);
  for (int64_t c = 0; c < C; ++c) {
    s[c] = scale[c] / std::sqrt(sigma2[c] + eps);
    t[c] = bias[c] - mu[c] * s[c];
  }

  Tensor& yt = ctx.allocate_output(0, xt.dtype(), xs);
  T* y = yt.data_as<T>();
  if constexpr (std::is_same_v<T, float>) {
    // float32: y = s·x + t per channel plane with the SIMD affine kernel;
    // a kiln.FusedBatchNormalization's residual add and activation run in the
    // same pass (affine_act_f32), while each vector is still in registers.
    const Tensor* z = ctx.residual();
    bool fused = false;
    simd::ActParams act;
    if (n.domain == kKilnDomain) {
      const FusedEpilogue e = FusedEpilogue::of(n);
      fused = !e.residual_input || (z && z->dtype() == DType::Float32 && z->shape() == xs);
      act = e.simd_act();
      if (!e.residual_input) z = nullptr;
    }
    if (fused) {
      static const std::string name = std::string("affine_act_f32_") + simd::best_arch_name();
      auto affine_act = simd::dispatch(simd::affine_act_f32{});
      const float* zp = z ? z->data_as<float>() : nullptr;
      runtime::parallel_for(N * C, grain_for(S), [&](int64_t r0, int64_t r1) {
        for (int64_t r = r0; r < r1; ++r) {
          const simd::AffineActParams ap{static_cast<float>(s[r % C]), static_cast<float>(t[r % C]), act};
          affine_act(ap, x + r * S, zp ? zp + r * S : nullptr, y + r * S, S);
        }
      });
      ctx.mark_epilogue_applied();
      ctx.set_kernel(name.c_str());
    } else {
      static const std::string name = std::string("affine_f32_") + simd::best_arch_name();
      auto affine = simd::dispatch(simd::affine_f32{});
      runtime::parallel_for(N * C, grain_for(S), [&](int64_t r0, int64_t r1) {
        for (int64_t r = r0; r < r1; ++r)
          affine(x + r * S, y + r * S, S, static_cast<float>(s[r % C]), static_cast<float>(t[r % C]));
      });
      ctx.set_kernel(name.c_str());
    }
  } else {
    runtime::parallel_for(N * C, grain_for(S), [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) kernels::ref::affine_run(x + r * S, y + r * S, S, s[r % C], t[r % C]);
    });
  }
  if (!training) {
    // Only reached with extra outputs when the session forces inference mode:
    // the statistics are then the given ones, unchanged.
    const DType u = ctx.input(3).dtype();
    if (ctx.output_wanted(1)) write_doubles(ctx, 1, u, stat_shape, mean);
    if (ctx.output_wanted(2)) write_doubles(ctx, 2, u, stat_shape, var);
    if (ctx.output_wanted(3)) write_doubles(ctx, 3, xt.dtype(), stat_shape, mean);
    if (ctx.output_wanted(4)) write_doubles(ctx, 4, xt.dtype(), stat_shape, var);
    return;
  }

  const double momentum = n.attr_float("momentum", 0.9f);
  std::vector<double> run_mean(C), run_var(C);
  for (int64_t c = 0; c < C; ++c) {
    run_mean[c] = mean[c] * momentum + mu[c] * (1 - momentum);
    run_var[c] = var[c] * momentum + sigma2[c] * (1 - momentum);
  }
  const DType u = ctx.input(3).dtype();
  if (ctx.output_wanted(1)) write_doubles(ctx, 1, u, stat_shape, run_mean);
  if (ctx.output_wanted(2)) write_doubles(ctx, 2, u, stat_shape, run_var);
  if (ctx.output_wanted(3)) write_doubles(ctx, 3, xt.dtype(), stat_shape, mu);
  if (ctx.output_wanted(4)) write_doubles(ctx, 4, xt.dtype(), stat_shape, sigma2);
}

void compute_batchnorm(ComputeContext& ctx) {
  const bool training = bn_training(ctx.node(), [&](const std::string& m) { ctx.fail(m); });
  for (size_t i = 1; i < 5; ++i)
    if (!is_float(ctx.input(i).dtype()))
      ctx.fail("input " + std::to_string(i) + " has dtype " + dtype_name(ctx.input(i).dtype()) +
               "; kiln supports float32, float64 here");
  dispatch_float(ctx.input(0).dtype(), ctx, [&](auto tag) { batchnorm_typed<decltype(tag)>(ctx, training); });
}

// ------------------------------------------------------------ LRN
//
// y[n, c, …] = x[n, c, …] / (bias + alpha/size · Σ_{c' near c} x[n, c', …]²)^beta,
// the window being channels c − ⌊(size−1)/2⌋ … c + ⌈(size−1)/2⌉ clipped to [0, C).

void infer_lrn(InferContext& ctx) {
  require_float(ctx, 0);
  const ir::Node& n = ctx.node();
  if (!n.has_attr("size")) ctx.fail("attribute 'size' is required");
  if (n.attr_int("size", 0) < 1)
    ctx.fail("attribute 'size' must be >= 1, got " + std::to_string(n.attr_int("size", 0)));
  const ir::Shape& x = in_shape(ctx, 0);
  if (x.known && x.rank() < 2) ctx.fail("X must have rank >= 2 (N x C x D1 ...), got shape " + x.str());
  ctx.set_output(0, ctx.input(0).dtype, x);
}

void compute_lrn(ComputeContext& ctx) {
  const ir::Node& n = ctx.node();
  const Tensor& xt = ctx.input(0);
  const std::vector<int64_t>& xs = xt.shape();
  if (xs.size() < 2) ctx.fail("X must have rank >= 2 (N x C x D1 ...), got shape " + shape_to_string(xs));
  const int64_t size = n.attr_int("size", 0);
  if (size < 1) ctx.fail("attribute 'size' must be >= 1");
  const double alpha = n.attr_float("alpha", 1e-4f), beta = n.attr_float("beta", 0.75f),
               bias = n.attr_float("bias", 1.0f);
  const int64_t N = xs[0], C = xs[1], S = product(xs, 2, xs.size());
  Tensor& yt = ctx.allocate_output(0, xt.dtype(), xs);
  dispatch_float(xt.dtype(), ctx, [&](auto tag) {
    using T = decltype(tag);
    const T* x = xt.data_as<T>();
    T* y = yt.data_as<T>();
    // One task per (image, channel); each reads its window of channels.
    runtime::parallel_for(N * C, grain_for(S * size), [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        const int64_t img = r / C, c = r % C;
        kernels::ref::lrn_channels(x + img * C * S, y + img * C * S, C, S, c, c + 1, size, alpha, beta, bias);
      }
    });
  });
}

// ------------------------------------------------------------ InstanceNormalization
//
// y[n, c, …] = scale[c]·(x[n, c, …] − μ[n, c])/sqrt(σ²[n, c] + eps) + B[c], with μ, σ²
// the mean and population variance of instance (n, c) over its spatial dims.

void infer_instancenorm(InferContext& ctx) {
  require_float(ctx, 0);
  require_same_dtype(ctx, 0, 1);
  require_same_dtype(ctx, 0, 2);
  const ir::Shape& x = in_shape(ctx, 0);
  if (x.known && x.rank() < 2) ctx.fail("input must have rank >= 2 (N x C x D1 ...), got shape " + x.str());
  for (size_t i = 1; i < 3; ++i) {
    const ir::Shape& p = in_shape(ctx, i);
    if (!p.known) continue;
    const char* name = i == 1 ? "scale" : "B";
    if (p.rank() != 1) ctx.fail(std::string(name) + " must be 1-D [C], got shape " + p.str());
    if (x.known && dims_conflict(p.dims[0], x.dims[1]))
      ctx.fail(std::string(name) + " has shape " + p.str() + " but input " + x.str() + " has " +
               std::to_string(x.dims[1]) + " channels");
  }
  ctx.set_output(0, ctx.input(0).dtype, x);
}

void compute_instancenorm(ComputeContext& ctx) {
  const Tensor& xt = ctx.input(0);
  const std::vector<int64_t>& xs = xt.shape();
  if (xs.size() < 2) ctx.fail("input must have rank >= 2 (N x C x D1 ...), got shape " + shape_to_string(xs));
  const int64_t N = xs[0], C = xs[1], S = product(xs, 2, xs.size());
  for (size_t i = 1; i < 3; ++i)
    if (ctx.input(i).shape() != std::vector<int64_t>{C})
      ctx.fail(std::string(i == 1 ? "scale" : "B") + " has shape " + shape_to_string(ctx.input(i).shape()) +
               " but must be [" + std::to_string(C) + "]");
  const std::vector<double> scale = to_doubles(ctx.input(1)), bias = to_doubles(ctx.input(2));
  const double eps = ctx.node().attr_float("epsilon", 1e-5f);
  Tensor& yt = ctx.allocate_output(0, xt.dtype(), xs);
  dispatch_float(xt.dtype(), ctx, [&](auto tag) {
    using T = decltype(tag);
    const T* x = xt.data_as<T>();
    T* y = yt.data_as<T>();
    runtime::parallel_for(N * C, grain_for(S), [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        const int64_t c = r % C;
        const kernels::ref::Moments m = kernels::ref::group_moments(x + r * S, 1, 0, S);
        const double s = scale[c] / std::sqrt(m.var + eps);
        kernels::ref::affine_run(x + r * S, y + r * S, S, s, bias[c] - m.mean * s);
      }
    });
  });
}

// ------------------------------------------------------------ LayerNormalization
//
// With normalized axes [axis, rank): for each row (one index of the leading
// dims) of D = Π x[axis:] elements,
//   Mean = Σx/D,  InvStdDev = 1/sqrt(Σ(x − Mean)²/D + eps),
//   Y = (x − Mean)·InvStdDev·Scale + B
// with Scale and B unidirectionally broadcast to X. Mean and InvStdDev have
// shape x[:axis] + [1]·(rank − axis) and dtype float32 (stash_type = 1).
// Statistics are computed in double, which is at least as precise as stash_type asks.

// Errors unless `p` (input i) broadcasts unidirectionally to `x`.
void check_unidirectional(const InferContext& ctx, size_t i, const ir::Shape& x, const char* name) {
  const ir::Shape& p = in_shape(ctx, i);
  if (!p.known || !x.known) return;
  bool bad = p.rank() > x.rank();
  for (size_t k = 0; !bad && k < p.rank(); ++k) {
    int64_t d = p.dims[k], t = x.dims[x.rank() - p.rank() + k];
    bad = d != 1 && dims_conflict(d, t);
  }
  if (bad) ctx.fail(std::string(name) + " has shape " + p.str() + ", which does not broadcast to X " + x.str());
}

void infer_layernorm(InferContext& ctx) {
  const ir::Node& n = ctx.node();
  require_float(ctx, 0);
  require_same_dtype(ctx, 0, 1);
  if (ctx.has_input(2)) require_same_dtype(ctx, 0, 2);
  const int64_t stash = n.attr_int("stash_type", 1);
  if (stash != 1)
    ctx.fail("stash_type " + std::to_string(stash) + " is not supported (only 1 = float32)");
  const ir::Shape& x = in_shape(ctx, 0);
  ir::Shape stat = ir::Shape::unknown();
  if (x.known) {
    if (x.rank() == 0) ctx.fail("X must have rank >= 1, got a scalar");
    const int64_t axis = normalize_axis(n.attr_int("axis", -1), static_cast<int64_t>(x.rank()), n);
    stat = x;
    for (size_t k = static_cast<size_t>(axis); k < x.rank(); ++k) stat.dims[k] = 1;
  }
  check_unidirectional(ctx, 1, x, "Scale");
  if (ctx.has_input(2)) check_unidirectional(ctx, 2, x, "B");
  ctx.set_output(0, ctx.input(0).dtype, x);
  for (size_t i = 1; i < ctx.num_outputs(); ++i) ctx.set_output(i, DType::Float32, stat);
}

// `p` broadcast over the trailing dims x[from:] of X, laid out densely: element j
// of the result is p at flat index j of a tensor of shape x[from:]. `from` is
// chosen so every dim of p that is not 1 lies in x[from:]; X's flat index i then
// maps to element i mod Π x[from:].
template <class T>
std::vector<T> expand_trailing(const ComputeContext& ctx, const Tensor& p, const std::vector<int64_t>& xs, size_t from,
                               const char* name) {
  const std::vector<int64_t>& ps = p.shape();
  bool bad = ps.size() > xs.size();
  for (size_t k = 0; !bad && k < ps.size(); ++k) {
    int64_t d = ps[k], t = xs[xs.size() - ps.size() + k];
    bad = d != 1 && d != t;
  }
  if (bad)
    ctx.fail(std::string(name) + " has shape " + shape_to_string(ps) + ", which does not broadcast to X " +
             shape_to_string(xs));
  // Drop p's dims in front of `from` (all 1 by the choice of `from`).
  const size_t lead = xs.size() - ps.size();
  std::vector<int64_t> tail(xs.begin() + from, xs.end());
  std::vector<int64_t> ptail(ps.begin() + (from > lead ? from - lead : 0), ps.end());
  const std::vector<int64_t> st = broadcast_strides(ptail, tail);
  const int64_t total = product(tail, 0, tail.size());
  std::vector<T> out(static_cast<size_t>(total));
  std::vector<int64_t> idx(tail.size(), 0);
  const T* src = p.data_as<T>();
  for (int64_t j = 0; j < total; ++j) {
    int64_t off = 0;
    for (size_t k = 0; k < tail.size(); ++k) off += idx[k] * st[k];
    out[j] = src[off];
    for (size_t k = tail.size(); k-- > 0;) {
      if (++idx[k] < tail[k]) break;
      idx[k] = 0;
    }
  }
  return out;
}

// First dim of X from which `p` (broadcast to X) may vary, capped at `axis`.
size_t first_varying_dim(const std::vector<int64_t>& ps, size_t x_rank, size_t axis) {
  const size_t lead = x_rank - std::min(ps.size(), x_rank);
  size_t k = lead;
  while (k < x_rank && ps[k - lead] == 1) ++k;
  return std::min(k, axis);
}

void compute_layernorm(ComputeContext& ctx) {
  const ir::Node& n = ctx.node();
  const Tensor& xt = ctx.input(0);
  const std::vector<int64_t>& xs = xt.shape();
  if (xs.empty()) ctx.fail("X must have rank >= 1, got a scalar");
  const size_t axis = static_cast<size_t>(normalize_axis(n.attr_int("axis", -1), static_cast<int64_t>(xs.size()), n));
  const int64_t rows = product(xs, 0, axis), D = product(xs, axis, xs.size());
  const double eps = n.attr_float("epsilon", 1e-5f);
  std::vector<int64_t> stat_shape = xs;
  for (size_t k = axis; k < xs.size(); ++k) stat_shape[k] = 1;
  std::vector<double> mean(static_cast<size_t>(rows), NAN), inv_std(static_cast<size_t>(rows), NAN);
  Tensor& yt = ctx.allocate_output(0, xt.dtype(), xs);

  dispatch_float(xt.dtype(), ctx, [&](auto tag) {
    using T = decltype(tag);
    const Tensor& st = ctx.input(1);
    const std::vector<T> scale =
        expand_trailing<T>(ctx, st, xs, first_varying_dim(st.shape(), xs.size(), axis), "Scale");
    std::vector<T> bias;
    if (ctx.has_input(2)) {
      const Tensor& bt = ctx.input(2);
      bias = expand_trailing<T>(ctx, bt, xs, first_varying_dim(bt.shape(), xs.size(), axis), "B");
    }
    const int64_t ps = static_cast<int64_t>(scale.size()), pb = static_cast<int64_t>(bias.size());
    const T* x = xt.data_as<T>();
    T* y = yt.data_as<T>();
    if (D == 0) return;  // empty rows: nothing to write (statistics stay NaN below)
    runtime::parallel_for(rows, grain_for(D), [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        const kernels::ref::Moments m = kernels::ref::group_moments(x + r * D, 1, 0, D);
        mean[r] = m.mean;
        inv_std[r] = 1.0 / std::sqrt(m.var + eps);
        // Each expanded parameter's period is a multiple of D, so a row starts at r·D mod period.
        kernels::ref::layer_norm_row(x + r * D, y + r * D, D, m.mean, inv_std[r], scale.data() + (r * D) % ps,
                                     bias.empty() ? nullptr : bias.data() + (r * D) % pb);
      }
    });
  });
  if (ctx.output_wanted(1)) write_doubles(ctx, 1, DType::Float32, stat_shape, mean);
  if (ctx.output_wanted(2)) write_doubles(ctx, 2, DType::Float32, stat_shape, inv_std);
}

}  // namespace

void register_normalization_ops(OpRegistry& r) {
  // BatchNormalization 1–15: 1–6 have is_test (and 1 consumed_inputs), 1–8 spatial,
  // 14+ training_mode; 1–13 have five outputs, 14+ three.
  OpSchema bn;
  bn.op_type = "BatchNormalization";
  bn.since_version = 1;
  bn.until_version = 13;
  bn.min_inputs = bn.max_inputs = 5;
  bn.min_outputs = 1;
  bn.max_outputs = 5;
  bn.infer = infer_batchnorm;
  bn.compute = compute_batchnorm;
  r.add(bn);
  bn.since_version = 14;
  bn.until_version = 1000;
  bn.max_outputs = 3;
  r.add(bn);

  // LRN 1 and 13 differ only in dtypes.
  OpSchema lrn;
  lrn.op_type = "LRN";
  lrn.since_version = 1;
  lrn.until_version = 1000;
  lrn.min_inputs = lrn.max_inputs = 1;
  lrn.infer = infer_lrn;
  lrn.compute = compute_lrn;
  r.add(std::move(lrn));

  // InstanceNormalization 1, 6, 22: same maths (1 also has consumed_inputs).
  OpSchema in;
  in.op_type = "InstanceNormalization";
  in.since_version = 1;
  in.until_version = 1000;
  in.min_inputs = in.max_inputs = 3;
  in.infer = infer_instancenorm;
  in.compute = compute_instancenorm;
  r.add(std::move(in));

  OpSchema ln;
  ln.op_type = "LayerNormalization";
  ln.since_version = 17;
  ln.until_version = 1000;
  ln.min_inputs = 2;
  ln.max_inputs = 3;
  ln.min_outputs = 1;
  ln.max_outputs = 3;
  ln.infer = infer_layernorm;
  ln.compute = compute_layernorm;
  r.add(std::move(ln));
}

}  // namespace kiln::ops
