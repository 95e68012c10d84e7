// ReduceSum, ReduceMean, ReduceMax, ReduceMin, ReduceProd, ReduceSumSquare,
// ReduceL1, ReduceL2, ReduceLogSum, ReduceLogSumExp (Softmax and LogSoftmax
// live in softmax.cpp and register from here).
//
//   y[kept] = ⊕ over the reduced axes of x,  ⊕ = Σ, Σ/count, max, min, Π, Σx²,
//   Σ|x|, √Σx², log Σx, log Σeˣ.
// Axes: an attribute up to ReduceSum-11 / the others' -13, an optional int64
// input from ReduceSum-13 / the others' -18. Empty or absent axes reduce every
// axis, unless noop_with_empty_axes = 1 (input form only), which makes y = x.
// keepdims = 1 keeps reduced axes as size 1. Over an empty set (a reduced
// axis of size 0): Σ, Σx², Σ|x|, √Σx² = 0, Π = 1, log Σx and log Σeˣ = −inf,
// max = −inf (lowest for integers, false for bool), min = +inf (highest,
// true), mean = NaN for floats (an error for integers).
#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>

#include "kernels/reference/reduce.h"
#include "kernels/simd/gemm_driver.h"
#include "kernels/simd/reduce.h"
#include "ops/op_util.h"
#include "ops/softmax.h"
#include "runtime/parallel.h"

namespace kiln::ops {

namespace {

enum class ReduceKind { Sum, Mean, Max, Min, Prod, SumSquare, L1, L2, LogSum, LogSumExp };

struct ReduceSpec {
  const char* name;
  ReduceKind kind;
  int axes_input_since;  // first opset taking axes as an input
};

// Σ in double for floats and in 64-bit integers otherwise; the mean divides at the end.
template <class T, bool mean>
struct SumOp {
  using Acc = std::conditional_t<std::is_floating_point_v<T>, double,
                                 std::conditional_t<std::is_signed_v<T>, int64_t, uint64_t>>;
  Acc init() const { return 0; }
  void step(Acc& a, T v) const { a += static_cast<Acc>(v); }
  T finish(Acc a, int64_t count) const {
    if constexpr (!mean) {
      return static_cast<T>(a);
    } else if constexpr (std::is_floating_point_v<T>) {
      return static_cast<T>(count > 0 ? a / static_cast<double>(count) : std::numeric_limits<double>::quiet_NaN());
    } else {
      return static_cast<T>(a / static_cast<Acc>(count));  // count > 0: checked by the caller
    }
  }
};

// max (or min with `is_max` false); a NaN operand makes the result NaN, as in numpy.
template <class T, bool is_max>
struct ExtremumOp {
  using Acc = T;
  T empty;  // the value over an empty set
  Acc init() const { return empty; }
  void step(Acc& a, T v) const {
    if constexpr (std::is_floating_point_v<T>) {
      if (v != v || (is_max ? v > a : v < a)) a = v;
    } else {
      if (is_max ? v > a : v < a) a = v;
    }
  }
  T finish(Acc a, int64_t) const { return a; }
};

// Π, Σx², Σ|x|, √Σx², log Σx and log Σeˣ in double, rounded to T at the end
// (float types; √ and the logs only for them, see allowed_dtypes). log Σeˣ
// runs online: m the largest value so far, s = Σ e^(x − m).
template <class T, ReduceKind K>
struct FloatMathOp {
  struct Acc {
    double s, m;
  };
  Acc init() const {
    return {K == ReduceKind::Prod ? 1.0 : 0.0, -std::numeric_limits<double>::infinity()};
  }
  void step(Acc& a, T v) const {
    const double x = static_cast<double>(v);
    if constexpr (K == ReduceKind::Prod) a.s *= x;
    else if constexpr (K == ReduceKind::SumSquare || K == ReduceKind::L2) a.s += x * x;
    else if constexpr (K == ReduceKind::L1) a.s += std::fabs(x);
    else if constexpr (K == ReduceKind::LogSum) a.s += x;
    else {
      if (x != x || a.m != a.m) {  // NaN sticks
        a.m = std::numeric_limits<double>::quiet_NaN();
      } else if (x == a.m) {
        a.s += 1.0;  // also +inf after +inf (e^(inf − inf) would be NaN)
      } else if (x > a.m) {
        a.s = a.s * std::exp(a.m - x) + 1.0;
        a.m = x;
      } else {
        a.s += std::exp(x - a.m);
      }
    }
  }
  T finish(Acc a, int64_t) const {
    if constexpr (K == ReduceKind::L2) return static_cast<T>(std::sqrt(a.s));
    else if constexpr (K == ReduceKind::LogSum) return static_cast<T>(std::log(a.s));
    else if constexpr (K == ReduceKind::LogSumExp) {
      if (a.m == -std::numeric_limits<double>::infinity()) return -std::numeric_limits<T>::infinity();  // empty, or all −inf
      return static_cast<T>(a.m + std::log(a.s));
    } else {
      return static_cast<T>(a.s);
    }
  }
};

// Π, Σx² and Σ|x| of integers in 64-bit unsigned arithmetic, which wraps
// modulo 2⁶⁴ (so modulo the narrower type too) where a signed product or sum
// would overflow.
template <class T, ReduceKind K>
struct IntMathOp {
  using Acc = uint64_t;
  Acc init() const { return K == ReduceKind::Prod ? 1 : 0; }
  void step(Acc& a, T v) const {
    const uint64_t u = static_cast<uint64_t>(static_cast<std::conditional_t<std::is_signed_v<T>, int64_t, uint64_t>>(v));
    if constexpr (K == ReduceKind::Prod) a *= u;
    else if constexpr (K == ReduceKind::SumSquare) a += u * u;
    else if constexpr (std::is_signed_v<T>) a += v < 0 ? uint64_t{0} - u : u;  // |v|
    else a += u;
  }
  T finish(Acc a, int64_t) const { return static_cast<T>(a); }
};

template <class T, bool is_max>
T extremum_identity(bool is_bool) {
  if (is_bool) return static_cast<T>(is_max ? 0 : 1);
  if constexpr (std::is_floating_point_v<T>)
    return is_max ? -std::numeric_limits<T>::infinity() : std::numeric_limits<T>::infinity();
  else
    return is_max ? std::numeric_limits<T>::lowest() : std::numeric_limits<T>::max();
}

std::vector<DType> allowed_dtypes(const ReduceSpec& spec, int opset) {
  if (spec.kind == ReduceKind::L2 || spec.kind == ReduceKind::LogSum || spec.kind == ReduceKind::LogSumExp)
    return {DType::Float32, DType::Float64};  // a √ or log of an integer sum: not supported here
  std::vector<DType> t = {DType::Float32, DType::Float64, DType::Int32, DType::Int64, DType::UInt32, DType::UInt64};
  if (spec.kind == ReduceKind::Max || spec.kind == ReduceKind::Min) {
    if (opset >= 12) t.insert(t.end(), {DType::Int8, DType::UInt8});
    if (opset >= 20) t.push_back(DType::Bool);
  }
  return t;
}

// The axes as the node gives them: `known` false when they come from a
// non-constant input (inference only). Also reads keepdims / noop_with_empty_axes.
struct AxesArg {
  bool known = true;
  std::vector<int64_t> axes;
  bool keepdims = true;
  bool noop = false;
};

template <class Ctx>
void read_flags(const Ctx& ctx, const ReduceSpec& spec, AxesArg& a) {
  const ir::Node& n = ctx.node();
  auto flag = [&](const char* name, int64_t def) {
    int64_t v = n.attr_int(name, def);
    if (v != 0 && v != 1) ctx.fail(std::string(name) + " must be 0 or 1, got " + std::to_string(v));
    return v == 1;
  };
  a.keepdims = flag("keepdims", 1);
  if (n.opset >= spec.axes_input_since) {
    if (n.has_attr("axes"))
      ctx.fail("'axes' is an input, not an attribute, from opset " + std::to_string(spec.axes_input_since));
    a.noop = flag("noop_with_empty_axes", 0);
  } else {
    if (n.has_attr("noop_with_empty_axes"))
      ctx.fail("attribute 'noop_with_empty_axes' exists only from opset " + std::to_string(spec.axes_input_since));
    a.axes = n.attr_ints("axes");
  }
}

// Normalized, sorted reduce mask over `rank` axes; all true for empty axes.
// Errors on out-of-range or repeated axes.
template <class Ctx>
std::vector<bool> reduce_mask(const Ctx& ctx, const std::vector<int64_t>& axes, int64_t rank) {
  std::vector<bool> mask(static_cast<size_t>(rank), axes.empty());
  for (int64_t ax : axes) {
    int64_t a = normalize_axis(ax, rank, ctx.node(), "axes value");
    if (mask[a] ) ctx.fail("axes " + shape_to_string(axes) + " name axis " + std::to_string(a) + " twice");
    mask[a] = true;
  }
  return mask;
}

std::vector<int64_t> reduced_dims(const std::vector<int64_t>& dims, const std::vector<bool>& mask, bool keepdims) {
  std::vector<int64_t> out;
  for (size_t i = 0; i < dims.size(); ++i) {
    if (!mask[i]) out.push_back(dims[i]);
    else if (keepdims) out.push_back(1);
  }
  return out;
}

void check_dtype(const InferContext& ctx, const ReduceSpec& spec) {
  DType t = ctx.input(0).dtype;
  std::vector<DType> ok = allowed_dtypes(spec, ctx.node().opset);
  if (std::find(ok.begin(), ok.end(), t) != ok.end()) return;
  std::string list;
  for (DType d : ok) list += (list.empty() ? "" : ", ") + dtype_name(d);
  ctx.fail("input 0 has dtype " + dtype_name(t) + "; kiln supports " + list + " here");
}

void infer_reduce(InferContext& ctx, const ReduceSpec& spec) {
  check_dtype(ctx, spec);
  DType dtype = ctx.input(0).dtype;
  AxesArg a;
  read_flags(ctx, spec, a);
  if (ctx.has_input(1)) {
    const ValueInfo& ax = ctx.input(1);
    if (ax.dtype != DType::Int64) ctx.fail("axes must be int64, got " + dtype_name(ax.dtype));
    if (ax.constant) a.axes = to_int64s(*ax.constant, ctx.node(), "axes");
    else if (!(ax.shape.known && ax.shape.rank() == 1 && ax.shape.dims[0] == 0)) a.known = false;
  }
  const ir::Shape& x = in_shape(ctx, 0);
  if (a.known && a.axes.empty() && a.noop) {
    ctx.set_output(0, dtype, x);
    return;
  }
  if (!x.known) {
    ctx.set_output(0, dtype, ir::Shape::unknown());
    return;
  }
  int64_t rank = static_cast<int64_t>(x.rank());
  if (!a.known) {
    // Unknown axes: with keepdims the rank stays, but any dim may become 1.
    ctx.set_output(0, dtype, a.keepdims ? known(std::vector<int64_t>(rank, -1)) : ir::Shape::unknown());
    return;
  }
  ctx.set_output(0, dtype, known(reduced_dims(x.dims, reduce_mask(ctx, a.axes, rank), a.keepdims)));
}

// Merges the input's axes into alternating kept / reduced runs (size-1 axes
// drop out) and lays them out as strided index spaces.
kernels::ref::ReduceLayout make_layout(const std::vector<int64_t>& dims, const std::vector<bool>& mask) {
  std::vector<int64_t> md;
  std::vector<bool> mr;
  for (size_t i = 0; i < dims.size(); ++i) {
    if (dims[i] == 1) continue;
    if (!md.empty() && mr.back() == mask[i]) md.back() *= dims[i];
    else {
      md.push_back(dims[i]);
      mr.push_back(mask[i]);
    }
  }
  kernels::ref::ReduceLayout l;
  int64_t stride = 1;
  std::vector<int64_t> strides(md.size());
  for (size_t i = md.size(); i-- > 0;) {
    strides[i] = stride;
    stride *= md[i];
  }
  for (size_t i = 0; i < md.size(); ++i) {
    (mr[i] ? l.red_dims : l.kept_dims).push_back(md[i]);
    (mr[i] ? l.red_strides : l.kept_strides).push_back(strides[i]);
  }
  return l;
}

template <class T, class Op>
void run_reduce(const Tensor& x, Tensor& y, const kernels::ref::ReduceLayout& l, const Op& op) {
  int64_t count = l.reduced_count();
  int64_t grain = std::max<int64_t>(1, (int64_t{1} << 15) / std::max<int64_t>(1, count));
  const T* xp = x.data_as<T>();
  T* yp = y.data_as<T>();
  runtime::parallel_for(y.numel(), grain,
                        [&](int64_t b, int64_t e) { kernels::ref::reduce_strided(xp, yp, l, op, b, e); });
}

// float32 over the layouts CNN and transformer graphs produce, with SIMD
// kernels (kernels/simd/reduce.h); false leaves the rest to the reference
// kernel. Layouts (runs of merged axes, see make_layout):
//   [kept O] [reduced R]              one contiguous run per output
//   [kept O] [reduced R] [kept I]     rows of I outputs, O times (O may be 1)
bool reduce_f32_simd(ComputeContext& ctx, const Tensor& x, Tensor& y, const kernels::ref::ReduceLayout& l,
                     ReduceKind kind) {
  if (kind != ReduceKind::Sum && kind != ReduceKind::Mean && kind != ReduceKind::Max && kind != ReduceKind::Min)
    return false;
  if (x.dtype() != DType::Float32 || l.red_dims.size() != 1 || l.kept_dims.size() > 2) return false;
  const int64_t R = l.red_dims[0];
  const simd::ReduceOp op = kind == ReduceKind::Max   ? simd::ReduceOp::Max
                            : kind == ReduceKind::Min ? simd::ReduceOp::Min
                                                      : simd::ReduceOp::Sum;
  const double scale = kind == ReduceKind::Mean ? 1.0 / static_cast<double>(R) : 1.0;
  const float* xp = x.data_as<float>();
  float* yp = y.data_as<float>();
  const auto& ks = l.kept_strides;
  if (l.red_strides[0] == 1 && (ks.empty() || (ks.size() == 1 && ks[0] == R))) {
    const int64_t O = y.numel();
    auto run = simd::dispatch(simd::reduce_run_f32{});
    runtime::parallel_for(O, std::max<int64_t>(1, (int64_t{1} << 15) / R), [&](int64_t b, int64_t e) {
      for (int64_t o = b; o < e; ++o) yp[o] = run(xp + o * R, R, op, scale);
    });
    ctx.set_kernel(simd::gemm_kernel_name("reduce_run_f32"));
    return true;
  }
  const bool outer_kept = l.kept_dims.size() == 2;
  const int64_t I = l.kept_dims.back(), O = outer_kept ? l.kept_dims[0] : 1;
  if (ks.back() != 1 || l.red_strides[0] != I || (outer_kept && ks[0] != R * I)) return false;
  // Tasks: (o, a chunk of kChunk columns); every column sums its rows in the
  // same order whatever the split.
  constexpr int64_t kChunk = 256;
  const int64_t chunks = (I + kChunk - 1) / kChunk;
  auto rows = simd::dispatch(simd::reduce_rows_f32{});
  runtime::parallel_for(O * chunks, std::max<int64_t>(1, (int64_t{1} << 15) / (R * kChunk)),
                        [&](int64_t b, int64_t e) {
                          for (int64_t t = b; t < e; ++t) {
                            const int64_t o = t / chunks, j = (t % chunks) * kChunk, n = std::min(kChunk, I - j);
                            rows(xp + o * R * I + j, R, I, n, op, scale, yp + o * I + j);
                          }
                        });
  ctx.set_kernel(simd::gemm_kernel_name("reduce_rows_f32"));
  return true;
}

void compute_reduce(ComputeContext& ctx, const ReduceSpec& spec) {
  const Tensor& x = ctx.input(0);
  AxesArg a;
  read_flags(ctx, spec, a);
  if (ctx.has_input(1)) a.axes = to_int64s(ctx.input(1), ctx.node(), "axes");
  if (a.axes.empty() && a.noop) {
    ctx.set_output(0, x.clone());
    return;
  }
  std::vector<bool> mask = reduce_mask(ctx, a.axes, static_cast<int64_t>(x.rank()));
  Tensor& y = ctx.allocate_output(0, x.dtype(), reduced_dims(x.shape(), mask, a.keepdims));
  kernels::ref::ReduceLayout l = make_layout(x.shape(), mask);
  if (y.numel() == 0) return;
  if (l.reduced_count() == 0 && spec.kind == ReduceKind::Mean && !is_float(x.dtype()))
    ctx.fail("the mean of an empty set is undefined for " + dtype_name(x.dtype()));
  if (l.reduced_count() > 0 && reduce_f32_simd(ctx, x, y, l, spec.kind)) return;
  bool is_bool = x.dtype() == DType::Bool;
  auto run = [&](auto tag) {
    using T = decltype(tag);
    // Π, Σx², Σ|x| in the type's own arithmetic class; √ and the logs (float
    // types only, allowed_dtypes) in double.
    auto math = [&](auto k) {
      constexpr ReduceKind K = decltype(k)::value;
      if constexpr (std::is_floating_point_v<T>) {
        run_reduce<T>(x, y, l, FloatMathOp<T, K>{});
      } else if constexpr (K == ReduceKind::Prod || K == ReduceKind::SumSquare || K == ReduceKind::L1) {
        run_reduce<T>(x, y, l, IntMathOp<T, K>{});
      } else {
        ctx.fail(std::string(spec.name) + " needs a float tensor");
      }
    };
    using RK = ReduceKind;
    switch (spec.kind) {
      case RK::Sum: run_reduce<T>(x, y, l, SumOp<T, false>{}); break;
      case RK::Mean: run_reduce<T>(x, y, l, SumOp<T, true>{}); break;
      case RK::Max: run_reduce<T>(x, y, l, ExtremumOp<T, true>{extremum_identity<T, true>(is_bool)}); break;
      case RK::Min: run_reduce<T>(x, y, l, ExtremumOp<T, false>{extremum_identity<T, false>(is_bool)}); break;
      case RK::Prod: math(std::integral_constant<RK, RK::Prod>{}); break;
      case RK::SumSquare: math(std::integral_constant<RK, RK::SumSquare>{}); break;
      case RK::L1: math(std::integral_constant<RK, RK::L1>{}); break;
      case RK::L2: math(std::integral_constant<RK, RK::L2>{}); break;
      case RK::LogSum: math(std::integral_constant<RK, RK::LogSum>{}); break;
      case RK::LogSumExp: math(std::integral_constant<RK, RK::LogSumExp>{}); break;
    }
  };
  switch (x.dtype()) {
    case DType::Float32: run(float{}); break;
    case DType::Float64: run(double{}); break;
    case DType::Int32: run(int32_t{}); break;
    case DType::Int64: run(int64_t{}); break;
    case DType::UInt32: run(uint32_t{}); break;
    case DType::UInt64: run(uint64_t{}); break;
    case DType::Int8: run(int8_t{}); break;
    case DType::UInt8: case DType::Bool: run(uint8_t{}); break;  // bool is stored as 0/1 bytes: max = any, min = all
    default: ctx.fail("dtype " + dtype_name(x.dtype()) + " is not supported for " + spec.name);
  }
}

void add_reduce(OpRegistry& r, const ReduceSpec& spec) {
  // Attribute form, then input form.
  for (bool input_form : {false, true}) {
    OpSchema s;
    s.op_type = spec.name;
    s.since_version = input_form ? spec.axes_input_since : 1;
    s.until_version = input_form ? 1000 : spec.axes_input_since - 1;
    s.min_inputs = 1;
    s.max_inputs = input_form ? 2 : 1;
    s.infer = [spec](InferContext& ctx) { infer_reduce(ctx, spec); };
    s.compute = [spec](ComputeContext& ctx) { compute_reduce(ctx, spec); };
    r.add(std::move(s));
  }
}

}  // namespace

void register_reduce_ops(OpRegistry& r) {
  add_reduce(r, {"ReduceSum", ReduceKind::Sum, 13});
  add_reduce(r, {"ReduceMean", ReduceKind::Mean, 18});
  add_reduce(r, {"ReduceMax", ReduceKind::Max, 18});
  add_reduce(r, {"ReduceMin", ReduceKind::Min, 18});
  add_reduce(r, {"ReduceProd", ReduceKind::Prod, 18});
  add_reduce(r, {"ReduceSumSquare", ReduceKind::SumSquare, 18});
  add_reduce(r, {"ReduceL1", ReduceKind::L1, 18});
  add_reduce(r, {"ReduceL2", ReduceKind::L2, 18});
  add_reduce(r, {"ReduceLogSum", ReduceKind::LogSum, 18});
  add_reduce(r, {"ReduceLogSumExp", ReduceKind::LogSumExp, 18});
  register_softmax_ops(r);
}

}  // namespace kiln::ops
