// Convolution family: Conv and ConvTranspose over 1-D, 2-D, 3-D (any N-D)
// NCHW inputs, with groups, strides, dilations, explicit or automatic padding,
// and ConvTranspose's output_padding / output_shape. One geometry resolver
// serves both shape inference (over partial shapes: unknown dims give -1) and
// computation (over concrete shapes), so the two cannot disagree.
//
// Conv, per spatial axis, with dk = (k − 1)·dilation + 1:
//   NOTSET/VALID: out = ⌊(in + pad_begin + pad_end − dk) / stride⌋ + 1   (VALID: pads 0)
//   SAME_*:       out = ⌈in / stride⌉, total pad = max(0, (out − 1)·stride + dk − in),
//                 the odd unit at the end (SAME_UPPER) or the beginning (SAME_LOWER).
// ConvTranspose, per spatial axis:
//   out = stride·(in − 1) + output_padding + dk − pad_begin − pad_end,
//   unless output_shape is given (or auto_pad is SAME_*, out = in·stride); then
//   total pad = stride·(in − 1) + output_padding + dk − out, split as
//   begin = ⌊total/2⌋ (SAME_UPPER) or total − ⌊total/2⌋ (otherwise).
// Semantics are the same in every opset (1, 11, 22 differ in dtypes and docs).
//
// Kernels: float32 1-D/2-D Conv and ConvTranspose run on the packed SGEMM
// (kernels/simd/gemm_driver.h), weights packed once at session creation;
// 3×3 stride-1 Conv where Winograd F(4×4, 3×3) is faster runs that
// (ops/conv_winograd.cpp, filters transformed at session creation);
// depthwise Conv has its own kernel, and so has Conv with few input channels
// (C <= 4: first layers; ops/conv_small_c.cpp); 3-D and float64 run on the
// reference kernels.
#include <algorithm>
#include <string>
#include <type_traits>

#include "kernels/reference/conv.h"
#include "kernels/reference/conv_transpose.h"
#include "kernels/simd/affine_act.h"
#include "kernels/simd/gemm_driver.h"
#include "ops/conv_depthwise.h"
#include "ops/conv_small_c.h"
#include "ops/conv_winograd.h"
#include "ops/fast_gemm.h"
#include "ops/op_util.h"
#include "runtime/parallel.h"

namespace kiln::ops {

namespace {

enum class AutoPad { NotSet, SameUpper, SameLower, Valid };

[[noreturn]] void fail(const ir::Node& node, const std::string& what) { throw Error(node.describe() + ": " + what); }

std::string list_str(const std::vector<int64_t>& v) {
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + std::to_string(v[i]);
  return s + "]";
}

// ⌊a / b⌋ for b > 0 (C++ division truncates toward zero).
int64_t floor_div(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

struct ConvAttrs {
  AutoPad auto_pad = AutoPad::NotSet;
  int64_t group = 1;
  std::vector<int64_t> kernel_shape;  // empty: taken from W
  std::vector<int64_t> strides, dilations, pads, output_padding;
  std::vector<int64_t> output_shape;  // ConvTranspose; empty when absent
};

// auto_pad and group, which do not depend on the number of spatial axes.
void read_axis_free_attrs(const ir::Node& node, ConvAttrs& a) {
  std::string ap = node.attr_string("auto_pad", "NOTSET");
  if (ap == "NOTSET" || ap.empty()) a.auto_pad = AutoPad::NotSet;
  else if (ap == "SAME_UPPER") a.auto_pad = AutoPad::SameUpper;
  else if (ap == "SAME_LOWER") a.auto_pad = AutoPad::SameLower;
  else if (ap == "VALID") a.auto_pad = AutoPad::Valid;
  else fail(node, "auto_pad must be NOTSET, SAME_UPPER, SAME_LOWER or VALID, got '" + ap + "'");

  a.group = node.attr_int("group", 1);
  if (a.group < 1) fail(node, "group must be >= 1, got " + std::to_string(a.group));
}

// Reads and checks the attributes for `r` spatial axes. An empty list counts
// as absent (some exporters write one).
ConvAttrs read_attrs(const ir::Node& node, size_t r, bool transpose) {
  ConvAttrs a;
  read_axis_free_attrs(node, a);

  auto per_axis = [&](const char* name, int64_t def, int64_t min, size_t len) {
    std::vector<int64_t> v = node.attr_ints(name, {});
    if (v.empty()) return std::vector<int64_t>(len, def);
    if (v.size() != len)
      fail(node, std::string(name) + " has " + std::to_string(v.size()) + " values " + list_str(v) + "; the input has " +
                     std::to_string(r) + " spatial axes, so " + std::to_string(len) + " are expected");
    for (int64_t e : v)
      if (e < min) fail(node, std::string(name) + " values must be >= " + std::to_string(min) + ", got " + list_str(v));
    return v;
  };
  if (!node.attr_ints("kernel_shape", {}).empty()) a.kernel_shape = per_axis("kernel_shape", 1, 1, r);
  a.strides = per_axis("strides", 1, 1, r);
  a.dilations = per_axis("dilations", 1, 1, r);
  a.pads = per_axis("pads", 0, 0, 2 * r);
  if (transpose) {
    a.output_padding = per_axis("output_padding", 0, 0, r);
    std::vector<int64_t> os = node.attr_ints("output_shape", {});
    // The spec names the spatial dims only; older exporters wrote N and C too.
    if (os.size() == r + 2) os.erase(os.begin(), os.begin() + 2);
    if (!os.empty() && os.size() != r)
      fail(node, "output_shape has " + std::to_string(os.size()) + " values " + list_str(os) + "; expected " +
                     std::to_string(r) + " (one per spatial axis)");
    for (int64_t e : os)
      if (e < 1) fail(node, "output_shape values must be >= 1, got " + list_str(os));
    a.output_shape = os;
  } else {
    a.output_padding.assign(r, 0);
  }
  return a;
}

struct Geometry {
  ir::Shape out;                // Y's shape, -1 where unknown
  kernels::ref::ConvShape conv;  // complete only when X and W are fully known
};

// Resolves Y's shape and the kernel's sizes from X's and W's (possibly partial)
// shapes and the node's attributes; errors on any inconsistency it can see.
Geometry resolve(const ir::Node& node, bool transpose, const ir::Shape& xs, const ir::Shape& ws, const ir::Shape* bs) {
  const char* w_layout = transpose ? "(C x M/group x k1 x ...)" : "(M x C/group x k1 x ...)";
  if (xs.known && xs.rank() < 3)
    fail(node, "X must have rank >= 3 (N x C x D1 x ...), got shape " + xs.str());
  if (ws.known && ws.rank() < 3) fail(node, std::string("W must have rank >= 3 ") + w_layout + ", got shape " + ws.str());
  if (xs.known && ws.known && xs.rank() != ws.rank())
    fail(node, "W has rank " + std::to_string(ws.rank()) + " (shape " + ws.str() + ") but X has rank " +
                   std::to_string(xs.rank()) + " (shape " + xs.str() + "); W must be " + w_layout +
                   " with one kernel axis per spatial axis of X");

  Geometry g;
  size_t r = 0;
  if (xs.known) r = xs.rank() - 2;
  else if (ws.known) r = ws.rank() - 2;
  else if (!node.attr_ints("kernel_shape", {}).empty()) r = node.attr_ints("kernel_shape", {}).size();
  else {
    ConvAttrs a;
    read_axis_free_attrs(node, a);  // still reject a bad auto_pad or group
    g.out = ir::Shape::unknown();
    return g;
  }
  const ConvAttrs a = read_attrs(node, r, transpose);
  auto xd = [&](size_t i) { return xs.known ? xs.dims[i] : int64_t{-1}; };
  auto wd = [&](size_t i) { return ws.known ? ws.dims[i] : int64_t{-1}; };

  // Kernel extents: W's spatial dims, cross-checked with kernel_shape.
  std::vector<int64_t> kernel(r);
  for (size_t d = 0; d < r; ++d) {
    int64_t wk = wd(2 + d), ak = a.kernel_shape.empty() ? -1 : a.kernel_shape[d];
    if (wk == 0) fail(node, "W has an empty kernel axis: shape " + ws.str());
    if (wk > 0 && ak > 0 && wk != ak)
      fail(node, "kernel_shape " + list_str(a.kernel_shape) + " does not match W's kernel dims (W shape " + ws.str() + ")");
    kernel[d] = wk > 0 ? wk : ak;
  }

  // Channels.
  const int64_t group = a.group, C = xd(1);
  int64_t M = -1;
  if (C >= 0 && C % group != 0)
    fail(node, "X has " + std::to_string(C) + " channels, not divisible by group " + std::to_string(group));
  if (!transpose) {
    const int64_t Mw = wd(0), Cw = wd(1);
    if (Mw >= 0 && Mw % group != 0)
      fail(node, "W has " + std::to_string(Mw) + " output channels (dim 0), not divisible by group " +
                     std::to_string(group));
    if (C >= 0 && Cw >= 0 && C != Cw * group)
      fail(node, "X has " + std::to_string(C) + " channels but W's input channels (dim 1) " + std::to_string(Cw) +
                     " x group " + std::to_string(group) + " = " + std::to_string(Cw * group));
    M = Mw;
  } else {
    const int64_t Cw = wd(0), Mg = wd(1);
    if (C >= 0 && Cw >= 0 && C != Cw)
      fail(node, "X has " + std::to_string(C) + " channels but W has " + std::to_string(Cw) +
                     " input channels (dim 0); W must be " + w_layout);
    if (Cw >= 0 && Cw % group != 0)
      fail(node, "W has " + std::to_string(Cw) + " input channels (dim 0), not divisible by group " +
                     std::to_string(group));
    M = Mg >= 0 ? Mg * group : -1;
  }
  if (bs && bs->known) {
    if (bs->rank() != 1 || (bs->dims[0] >= 0 && M >= 0 && bs->dims[0] != M))
      fail(node, "B must be 1-D with one value per output channel (" + (M >= 0 ? std::to_string(M) : "M") +
                     "), got shape " + bs->str());
  }

  // Spatial extents and leading pads.
  std::vector<int64_t> out(r, -1), pads_begin(r, 0);
  for (size_t d = 0; d < r; ++d) {
    const int64_t in = xd(2 + d), k = kernel[d], s = a.strides[d], dil = a.dilations[d];
    if (in == 0) fail(node, "X has an empty spatial axis " + std::to_string(d) + ": shape " + xs.str());
    const int64_t dk = k > 0 ? dim_add(dim_mul(k - 1, dil, node), 1, node) : -1;
    int64_t pb = a.pads[d], pe = a.pads[d + r];
    if (a.auto_pad == AutoPad::Valid) pb = pe = 0;
    auto describe_axis = [&] {
      return " along spatial axis " + std::to_string(d) + " (input " + std::to_string(in) + ", kernel " +
             std::to_string(k) + ", dilation " + std::to_string(dil) + ", stride " + std::to_string(s) + ", pads " +
             std::to_string(pb) + "+" + std::to_string(pe) + ")";
    };
    if (!transpose) {
      if (a.auto_pad == AutoPad::SameUpper || a.auto_pad == AutoPad::SameLower) {
        if (in < 0) continue;
        out[d] = dim_add(in, s - 1, node) / s;
        if (dk < 0) continue;
        int64_t total = std::max<int64_t>(0, dim_add(dim_mul(out[d] - 1, s, node), dk, node) - in);
        pb = a.auto_pad == AutoPad::SameUpper ? total / 2 : total - total / 2;
      } else {
        if (in < 0 || dk < 0) continue;
        int64_t span = dim_add(dim_add(in, pb, node), pe, node) - dk;
        if (span < 0)
          fail(node, "the dilated kernel (" + std::to_string(dk) + ") is larger than the padded input" + describe_axis() +
                         ": the output would be empty");
        out[d] = span / s + 1;
      }
    } else {
      const int64_t op = a.output_padding[d];
      const bool auto_size = !a.output_shape.empty() || a.auto_pad == AutoPad::SameUpper ||
                             a.auto_pad == AutoPad::SameLower;
      if (auto_size) {
        if (!a.output_shape.empty()) out[d] = a.output_shape[d];
        else if (in >= 0) out[d] = dim_mul(in, s, node);
        if (in < 0 || dk < 0 || out[d] < 0) continue;
        int64_t total = dim_add(dim_add(dim_mul(s, in - 1, node), op, node), dk, node) - out[d];
        pb = a.auto_pad == AutoPad::SameUpper ? floor_div(total, 2) : total - floor_div(total, 2);
      } else {
        if (in < 0 || dk < 0) continue;
        out[d] = dim_add(dim_add(dim_add(dim_add(dim_mul(s, in - 1, node), op, node), dk, node), -pb, node), -pe, node);
        if (out[d] <= 0)
          fail(node, "the output size would be " + std::to_string(out[d]) + describe_axis() + ", output_padding " +
                         std::to_string(op));
      }
    }
    pads_begin[d] = pb;
  }

  std::vector<int64_t> dims{xd(0), M};
  dims.insert(dims.end(), out.begin(), out.end());
  g.out = ir::Shape::of(dims);

  kernels::ref::ConvShape& c = g.conv;
  c.batch = xd(0);
  c.in_channels = C;
  c.out_channels = M;
  c.group = group;
  c.in_spatial.assign(xs.known ? xs.dims.begin() + 2 : xs.dims.end(), xs.dims.end());
  c.out_spatial = out;
  c.kernel = kernel;
  c.strides = a.strides;
  c.dilations = a.dilations;
  c.pads_begin = pads_begin;
  return g;
}

void infer_conv(InferContext& ctx, bool transpose) {
  require_dtype(ctx, 0, {DType::Float32, DType::Float64});
  require_same_dtype(ctx, 0, 1);
  if (ctx.has_input(2)) require_same_dtype(ctx, 0, 2);
  const ir::Shape* bs = ctx.has_input(2) ? &in_shape(ctx, 2) : nullptr;
  Geometry g = resolve(ctx.node(), transpose, in_shape(ctx, 0), in_shape(ctx, 1), bs);
  ctx.set_output(0, ctx.input(0).dtype, g.out);
}

template <class T>
void run_kernel(bool transpose, const kernels::ref::ConvShape& s, const Tensor& x, const Tensor& w, const Tensor* b,
                Tensor& y) {
  const T* bias = b ? b->data_as<T>() : nullptr;
  if constexpr (std::is_same_v<T, float>) {
    (transpose ? kernels::ref::conv_transpose_f32 : kernels::ref::conv_f32)(s, x.data_as<float>(), w.data_as<float>(),
                                                                            bias, y.data_as<float>());
  } else {
    (transpose ? kernels::ref::conv_transpose_f64 : kernels::ref::conv_f64)(s, x.data_as<double>(),
                                                                            w.data_as<double>(), bias,
                                                                            y.data_as<double>());
  }
}

// ------------------------------------------------------------ SGEMM path
//
// Conv of one image and group is Y_g[Mg, OH·OW] = W_g[Mg, Cg·kh·kw] · im2col(X_g):
//  - 1×1, stride 1, no padding: im2col(X_g) is X_g itself ([Cg, H·W], NCHW),
//    so the GEMM reads it directly.
//  - otherwise implicit GEMM: the SGEMM packs its B panels straight from X
//    (simd::Im2col2d). Chosen over a blocked im2col into a per-thread column
//    buffer because the packed panel is then the only copy: a column buffer
//    costs the same gather plus a second pass (columns → packed panel, the
//    copy the 1×1 path makes from X) and K·cols floats of scratch. Measured
//    with bench/kernel_bench (one Zen 5 core, AVX-512): 3×3 layers reach
//    173–185 GFLOP/s against 199–208 for 1×1 layers of the same maps, so the
//    gather costs 10–17 %, and a column buffer could only add to it.
// Bias, residual and activation run in the GEMM's epilogue.
// Small maps (≤ 240 output positions, e.g. 7² and 14²) run transposed,
// Y_gᵀ = im2col(X_g)ᵀ · W_gᵀ (simd::conv_gemm_transposed, decided at session
// creation where the map size is known; gemm.h): the output channels fill
// the vector lanes, the positions are read in place from X (no im2col
// packing), and the tiles are stored transposed into NCHW.
//
// ConvTranspose of one image and group is a GEMM col[Mg·kh·kw, H·W] =
// W_gᵀ · X_g followed by a col2im scatter-add into Y, one output channel per
// task (the order of the adds is fixed, so results do not depend on threads).

// The float32 2-D (or 1-D) convolutions the SGEMM path handles; depthwise
// Conv (one input and one output channel per group) is left to its own kernel.
bool sgemm_conv_eligible(const kernels::ref::ConvShape& s, bool transpose) {
  if (s.kernel.size() != 1 && s.kernel.size() != 2) return false;
  const int64_t Cg = s.in_channels / s.group, Mg = s.out_channels / s.group;
  if (!transpose && Cg == 1 && Mg == 1 && s.group > 1) return false;
  return true;
}

// Spatial sizes as 2-D (a 1-D axis is the width, with height 1).
struct Spatial2d {
  int64_t H, W, OH, OW, kh, kw, sh, sw, dh, dw, ph, pw;
};
Spatial2d spatial2d(const kernels::ref::ConvShape& s) {
  const size_t r = s.kernel.size(), x = r - 1;
  const bool two = r == 2;
  return Spatial2d{two ? s.in_spatial[0] : 1, s.in_spatial[x], two ? s.out_spatial[0] : 1, s.out_spatial[x],
                   two ? s.kernel[0] : 1,     s.kernel[x],     two ? s.strides[0] : 1,    s.strides[x],
                   two ? s.dilations[0] : 1,  s.dilations[x],  two ? s.pads_begin[0] : 0, s.pads_begin[x]};
}

// Weights packed per group: Conv's W_g (Mg × Cg·k) as the GEMM's A, or
// ConvTranspose's W_gᵀ ((Mg·k) × Cg).
struct PackedConvState : OpState {
  std::vector<simd::AlignedFloats> groups;
  // Conv whose output map is small (simd::conv_gemm_transposed): groups hold
  // W_gᵀ packed as the GEMM's B' and the conv runs as Y_gᵀ = im2col(X_g)ᵀ · W_gᵀ.
  bool transposed = false;
  std::vector<int64_t> w_shape;  // the W these were packed from
  std::shared_ptr<const WinogradWeights> winograd;  // 3×3 Conv the Winograd rule may pick; else null
  std::shared_ptr<const SmallCWeights> small_c;     // 2-D group-1 Conv of C <= 4 channels; else null
};

std::shared_ptr<const OpState> prepare_conv(const InferContext& ctx, bool transpose) {
  if (!ctx.has_input(1) || ctx.input(0).dtype != DType::Float32) return nullptr;
  const Tensor* w = ctx.input(1).constant;
  if (!w || w->dtype() != DType::Float32 || (w->rank() != 3 && w->rank() != 4) || w->numel() == 0) return nullptr;
  const int64_t group = ctx.node().attr_int("group", 1);
  if (group < 1 || w->shape()[0] % group != 0) return nullptr;  // compute reports the error
  const int64_t ks = w->numel() / (w->shape()[0] * w->shape()[1]);
  auto st = std::make_shared<PackedConvState>();
  st->w_shape = w->shape();
  const float* wp = w->data_as<float>();
  if (!transpose) {
    const int64_t Mg = w->shape()[0] / group, K = w->shape()[1] * ks;
    if (w->shape()[1] == 1 && Mg == 1 && group > 1) return nullptr;  // depthwise: not this path
    const ir::Shape ws = known(w->shape());
    const Geometry geo = resolve(ctx.node(), false, ctx.input(0).shape, ws, nullptr);
    // Output positions per image when the map size is known at creation.
    int64_t positions = geo.out.known ? 1 : -1;
    for (size_t d = 2; geo.out.known && d < geo.out.dims.size(); ++d)
      positions = geo.out.dims[d] < 0 ? -1 : positions * geo.out.dims[d];
    st->transposed = positions > 0 && simd::conv_gemm_transposed(Mg, positions);
    for (int64_t g = 0; g < group; ++g)
      st->groups.push_back(st->transposed ? simd::pack_gemm_b(wp + g * Mg * K, K, true, K, Mg)
                                          : simd::pack_gemm_a(wp + g * Mg * K, K, false, Mg, K));
    // The Winograd filters too when the rule may choose that path (output
    // map size unknown until run time for dynamic shapes).
    kernels::ref::ConvShape cs = geo.conv;
    if (cs.kernel.size() == 2 && group == 1 && winograd_geometry(cs) &&
        winograd_preferred(w->shape()[1], w->shape()[0], geo.out.known ? geo.out.dims[2] : -1,
                           geo.out.known ? geo.out.dims[3] : -1))
      st->winograd = winograd_weights(wp, w->shape()[0], w->shape()[1]);
    if (w->rank() == 4 && group == 1 && w->shape()[1] <= simd::kSmallCMaxChannels)
      st->small_c = small_c_weights(wp, w->shape()[0], w->shape()[1], w->shape()[2], w->shape()[3]);
  } else {
    const int64_t Cg = w->shape()[0] / group, MgK = w->shape()[1] * ks;
    for (int64_t g = 0; g < group; ++g)
      st->groups.push_back(simd::pack_gemm_a(wp + g * Cg * MgK, MgK, true, MgK, Cg));
  }
  return st;
}

const PackedConvState* packed_state(const ComputeContext& ctx, const Tensor& w) {
  const auto* st = dynamic_cast<const PackedConvState*>(ctx.state());
  return st && st->w_shape == w.shape() ? st : nullptr;
}

const float* packed_group(const ComputeContext& ctx, const Tensor& w, int64_t g) {
  const PackedConvState* st = packed_state(ctx, w);
  return st ? st->groups[static_cast<size_t>(g)].data() : nullptr;
}

const SmallCWeights* small_c_of(const ComputeContext& ctx, const Tensor& w) {
  const auto* st = dynamic_cast<const PackedConvState*>(ctx.state());
  return st && st->w_shape == w.shape() ? st->small_c.get() : nullptr;
}

const WinogradWeights* winograd_of(const ComputeContext& ctx, const Tensor& w) {
  const auto* st = dynamic_cast<const PackedConvState*>(ctx.state());
  return st && st->w_shape == w.shape() ? st->winograd.get() : nullptr;
}

// The convolution is one conv_sgemm reads X for as a plain row-major B (a
// 1×1, stride 1, unpadded convolution whose weights were packed for Y = W·X),
// so that an input map can be applied as B is packed.
bool map_in_packing(const ComputeContext& ctx, const kernels::ref::ConvShape& s, const Tensor& w) {
  if (s.kernel.size() != 2 || !sgemm_conv_eligible(s, false) || small_c_of(ctx, w)) return false;
  for (size_t i = 0; i < 2; ++i)
    if (s.kernel[i] != 1 || s.strides[i] != 1 || s.pads_begin[i] != 0 || s.out_spatial[i] != s.in_spatial[i])
      return false;
  const PackedConvState* st = packed_state(ctx, w);
  return st && !st->transposed;
}

void conv_sgemm(ComputeContext& ctx, const kernels::ref::ConvShape& s, const Tensor& x, const Tensor& w,
                const Tensor* b, Tensor& y, const ComputeContext::InputMap* map = nullptr) {
  const int64_t G = s.group, Cg = s.in_channels / G, Mg = s.out_channels / G;
  const Spatial2d d = spatial2d(s);
  const int64_t isp = d.H * d.W, osp = d.OH * d.OW, K = Cg * d.kh * d.kw;
  const bool pointwise = d.kh == 1 && d.kw == 1 && d.sh == 1 && d.sw == 1 && d.ph == 0 && d.pw == 0 &&
                         d.OH == d.H && d.OW == d.W;
  // Transposed (Y_gᵀ = im2col(X_g)ᵀ · W_gᵀ, see PackedConvState) when the
  // weights were packed for it.
  const PackedConvState* st = packed_state(ctx, w);
  const bool tr = st && st->transposed;
  simd::SgemmProblem p;
  p.M = tr ? osp : Mg;
  p.N = tr ? Mg : osp;
  p.K = K;
  p.lda = K;
  p.ldc = osp;
  p.trans_c = tr;
  const bool fused = gemm_fused_epilogue(ctx, y.shape(), &p.ep);
  p.ep.ld_residual = osp;
  const float* z = p.ep.residual;
  const float *xp = x.data_as<float>(), *wp = w.data_as<float>(), *bias = b ? b->data_as<float>() : nullptr;
  float* yp = y.data_as<float>();
  simd::Im2col2d col{nullptr, Cg, d.H, d.W, d.OH, d.OW, d.kh, d.kw, d.sh, d.sw, d.dh, d.dw, d.ph, d.pw};
  for (int64_t n = 0; n < s.batch; ++n)
    for (int64_t g = 0; g < G; ++g) {
      const float* xg = xp + (n * s.in_channels + g * Cg) * isp;
      const int64_t y_off = (n * s.out_channels + g * Mg) * osp;
      col.x = xg;
      if (tr) {
        p.packed_b = packed_group(ctx, w, g);  // W_gᵀ
        p.a_im2col = &col;                     // read in place, 1×1 included (gemm_driver.h)
        p.ep.col_bias = bias ? bias + g * Mg : nullptr;
      } else {
        p.a = wp + g * Mg * K;
        p.packed_a = packed_group(ctx, w, g);
        if (pointwise) {
          p.b = xg;
          p.ldb = isp;
          if (map) {
            p.b_scale = map->scale + g * Cg;
            p.b_shift = map->shift + g * Cg;
            p.b_relu = map->relu;
          }
        } else {
          p.im2col = &col;
        }
        p.ep.row_bias = bias ? bias + g * Mg : nullptr;
      }
      p.c = yp + y_off;
      if (z) p.ep.residual = z + y_off;
      run_sgemm(p);  // a GEMV when the map is one pixel (squeeze-excitation)
    }
  if (fused) ctx.mark_epilogue_applied();
  ctx.set_kernel(sgemm_kernel_name(p, tr ? (pointwise ? "conv1x1_sgemm_t" : "conv_implicit_sgemm_t")
                                        : (pointwise ? "conv1x1_sgemm" : "conv_implicit_sgemm")));
}

void conv_transpose_sgemm(ComputeContext& ctx, const kernels::ref::ConvShape& s, const Tensor& x, const Tensor& w,
                          const Tensor* b, Tensor& y) {
  const int64_t G = s.group, Cg = s.in_channels / G, Mg = s.out_channels / G;
  const Spatial2d d = spatial2d(s);
  const int64_t isp = d.H * d.W, osp = d.OH * d.OW, taps = d.kh * d.kw;
  std::vector<float> col(static_cast<size_t>(Mg * taps * isp));
  simd::SgemmProblem p;
  p.M = Mg * taps;
  p.N = isp;
  p.K = Cg;
  p.lda = Mg * taps;
  p.trans_a = true;
  p.ldb = isp;
  p.c = col.data();
  p.ldc = isp;
  const float *xp = x.data_as<float>(), *wp = w.data_as<float>(), *bias = b ? b->data_as<float>() : nullptr;
  float* yp = y.data_as<float>();
  for (int64_t n = 0; n < s.batch; ++n)
    for (int64_t g = 0; g < G; ++g) {
      // col[(m·kh + r)·kw + s, i] = Σ_c W[g·Cg + c, m, r, s] · X[n, g·Cg + c, i]
      p.a = wp + g * Cg * Mg * taps;
      p.packed_a = packed_group(ctx, w, g);
      p.b = xp + (n * s.in_channels + g * Cg) * isp;
      simd::sgemm(p);
      // col2im: input position (ih, iw) under tap (r, s) lands on
      // (ih·sh − ph + r·dh, iw·sw − pw + s·dw) when that is inside Y.
      runtime::parallel_for(Mg, 1, [&](int64_t m0, int64_t m1) {
        for (int64_t m = m0; m < m1; ++m) {
          float* ym = yp + (n * s.out_channels + g * Mg + m) * osp;
          std::fill(ym, ym + osp, bias ? bias[g * Mg + m] : 0.f);
          for (int64_t r = 0; r < d.kh; ++r)
            for (int64_t t = 0; t < d.kw; ++t) {
              const float* crow = col.data() + ((m * d.kh + r) * d.kw + t) * isp;
              for (int64_t ih = 0; ih < d.H; ++ih) {
                const int64_t oh = ih * d.sh - d.ph + r * d.dh;
                if (oh < 0 || oh >= d.OH) continue;
                float* yrow = ym + oh * d.OW;
                const float* crow_h = crow + ih * d.W;
                for (int64_t iw = 0; iw < d.W; ++iw) {
                  const int64_t ow = iw * d.sw - d.pw + t * d.dw;
                  if (ow >= 0 && ow < d.OW) yrow[ow] += crow_h[iw];
                }
              }
            }
        }
      });
    }
  ctx.set_kernel(simd::gemm_kernel_name("convtranspose_sgemm_col2im"));
}

// The kernels, fastest first, for X (float32 or float64) into the allocated y.
void run_conv(ComputeContext& ctx, bool transpose, const Geometry& g, const Tensor& x, const Tensor& w,
              const Tensor* b, Tensor& y) {
  // Depthwise float32: the direct SIMD kernel (ops/conv_depthwise.cpp) when it covers the geometry.
  if (!transpose && x.dtype() == DType::Float32 && run_depthwise_f32(ctx, g.conv, x, w, b, y)) return;
  // Few input channels (C <= 4) where that rule picks the direct kernel (ops/conv_small_c.cpp).
  if (!transpose && x.dtype() == DType::Float32 && run_small_c_f32(ctx, small_c_of(ctx, w), g.conv, x, b, y)) return;
  // 3×3 stride 1 where the Winograd rule picks it (ops/conv_winograd.cpp).
  if (!transpose && x.dtype() == DType::Float32 && run_winograd_f32(ctx, winograd_of(ctx, w), g.conv, x, b, y)) return;
  // col2im's column buffer is Mg·k × H·W floats per image and group; past
  // 2^24 of them (64 MiB) ConvTranspose stays on the reference kernel.
  const bool col_fits = !transpose || (g.conv.out_channels / g.conv.group) * checked_numel(g.conv.kernel) *
                                              checked_numel(g.conv.in_spatial) <= (int64_t{1} << 24);
  if (x.dtype() == DType::Float32 && sgemm_conv_eligible(g.conv, transpose) && col_fits) {
    if (transpose) conv_transpose_sgemm(ctx, g.conv, x, w, b, y);
    else conv_sgemm(ctx, g.conv, x, w, b, y);
  } else if (x.dtype() == DType::Float32) run_kernel<float>(transpose, g.conv, x, w, b, y);
  else run_kernel<double>(transpose, g.conv, x, w, b, y);
}

// X mapped by a fused input map (ComputeContext::InputMap), per channel.
thread_local simd::ThreadScratch t_mapped;

void compute_conv(ComputeContext& ctx, bool transpose) {
  const Tensor& x = ctx.input(0);
  const Tensor& w = ctx.input(1);
  const Tensor* b = ctx.has_input(2) ? &ctx.input(2) : nullptr;
  if (x.dtype() != DType::Float32 && x.dtype() != DType::Float64)
    ctx.fail("X has dtype " + dtype_name(x.dtype()) + "; kiln supports float32, float64 here");
  if (w.dtype() != x.dtype() || (b && b->dtype() != x.dtype()))
    ctx.fail("X, W and B must share one dtype; got " + dtype_name(x.dtype()) + ", " + dtype_name(w.dtype()) +
             (b ? ", " + dtype_name(b->dtype()) : std::string()));
  ir::Shape bs = b ? known(b->shape()) : ir::Shape::unknown();
  Geometry g = resolve(ctx.node(), transpose, known(x.shape()), known(w.shape()), b ? &bs : nullptr);
  Tensor& y = ctx.allocate_output(0, x.dtype(), g.out.dims);
  if (y.numel() == 0) return;
  const ComputeContext::InputMap* map = ctx.input_map();
  if (!map) return run_conv(ctx, transpose, g, x, w, b, y);
  if (transpose || x.dtype() != DType::Float32) ctx.fail("an input map needs a float32 Conv");
  if (map_in_packing(ctx, g.conv, w)) return conv_sgemm(ctx, g.conv, x, w, b, y, map);
  // Every other kernel reads X as it is: map it into scratch first, one
  // (image, channel) plane per task.
  const simd::ScratchLease mapped(t_mapped, x.numel());
  const int64_t C = g.conv.in_channels, planes = g.conv.batch * C, plane = planes ? x.numel() / planes : 0;
  auto affine = simd::dispatch(simd::affine_act_f32{});
  const float* xp = x.data_as<float>();
  float* mp = mapped.data();
  runtime::parallel_for(planes, std::max<int64_t>(1, (int64_t{1} << 14) / std::max<int64_t>(plane, 1)),
                        [&](int64_t q0, int64_t q1) {
                          for (int64_t q = q0; q < q1; ++q) {
                            simd::AffineActParams a;
                            a.s = map->scale[q % C];
                            a.t = map->shift[q % C];
                            a.act.kind = map->relu ? simd::Act::Relu : simd::Act::None;
                            affine(a, xp + q * plane, nullptr, mp + q * plane, plane);
                          }
                        });
  run_conv(ctx, transpose, g, Tensor::wrap(DType::Float32, x.shape(), mp), w, b, y);
}

void add_conv_schema(OpRegistry& r, const char* name, bool transpose) {
  OpSchema s;
  s.op_type = name;
  s.since_version = 1;
  s.until_version = 1000;
  s.min_inputs = 2;
  s.max_inputs = 3;
  s.infer = [transpose](InferContext& ctx) { infer_conv(ctx, transpose); };
  s.compute = [transpose](ComputeContext& ctx) { compute_conv(ctx, transpose); };
  s.prepare = [transpose](const InferContext& ctx) { return prepare_conv(ctx, transpose); };
  // Conv: 2·|Y|·(C/group)·k multiply-adds; ConvTranspose: 2·|X|·(M/group)·k.
  s.flops = [transpose](const ir::Node&, const std::vector<const Tensor*>& in, const std::vector<Tensor>& out) {
    if (in.size() < 2 || !in[0] || !in[1] || out.empty() || in[1]->rank() < 1 || in[1]->shape()[0] == 0) return 0.0;
    const double per_row = static_cast<double>(in[1]->numel()) / static_cast<double>(in[1]->shape()[0]);
    return 2.0 * static_cast<double>(transpose ? in[0]->numel() : out[0].numel()) * per_row;
  };
  r.add(std::move(s));
}

}  // namespace

void register_conv_ops(OpRegistry& r) {
  add_conv_schema(r, "Conv", /*transpose=*/false);
  add_conv_schema(r, "ConvTranspose", /*transpose=*/true);
}

}  // namespace kiln::ops
