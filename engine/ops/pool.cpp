// MaxPool, AveragePool, GlobalMaxPool, GlobalAveragePool over N x C x D1 … Dn
// inputs (n = 1…3 spatial axes).
//
// Output size per spatial axis, with dk = (kernel − 1)·dilation + 1:
//   explicit pads:  out = floor_or_ceil((in + pad_begin + pad_end − dk) / stride) + 1;
//                   with ceil_mode, a last window that would start past the
//                   input and its left padding ((out − 1)·stride >= in + pad_begin)
//                   is dropped.
//   SAME_UPPER/LOWER: out = ceil(in / stride), total pad = max(0, (out − 1)·stride + dk − in),
//                   split evenly, the odd one at the end (UPPER) or beginning (LOWER).
//   VALID:          out = floor((in − dk) / stride) + 1, no padding.
// (With auto_pad, ceil_mode does not change the size: both of the spec's formulas agree.)
#include <algorithm>
#include <limits>
#include <string>
#include <tuple>

#include "kernels/reference/pool.h"
#include "kernels/simd/gemm_driver.h"
#include "kernels/simd/pool.h"
#include "kernels/simd/reduce.h"
#include "ops/op_util.h"
#include "runtime/parallel.h"

namespace kiln::ops {

namespace {

enum class PoolKind { Max, Average };

// Pool attributes, validated once per call.
struct PoolAttrs {
  std::vector<int64_t> kernel, strides, dilations, pads;  // pads: begin…, end…
  std::string auto_pad;
  bool ceil_mode = false;
  bool count_include_pad = false;
  int storage_order = 0;
};

// Errors thrown as `fail(message)`; works for both contexts.
template <class Ctx>
PoolAttrs read_pool_attrs(const Ctx& ctx, PoolKind kind) {
  const ir::Node& n = ctx.node();
  // Attributes that later opsets introduced: present earlier means a malformed model.
  auto since = [&](const char* name, int version) {
    if (n.has_attr(name) && n.opset < version)
      ctx.fail(std::string("attribute '") + name + "' exists only from opset " + std::to_string(version));
  };
  since("ceil_mode", 10);
  if (kind == PoolKind::Max) {
    since("storage_order", 8);
    since("dilations", 10);
  } else {
    since("count_include_pad", 7);
    since("dilations", 19);
  }
  if (kind == PoolKind::Average && n.has_attr("storage_order")) ctx.fail("AveragePool has no attribute 'storage_order'");
  if (kind == PoolKind::Max && n.has_attr("count_include_pad")) ctx.fail("MaxPool has no attribute 'count_include_pad'");

  PoolAttrs a;
  if (!n.has_attr("kernel_shape")) ctx.fail("the required attribute 'kernel_shape' is missing");
  a.kernel = n.attr_ints("kernel_shape");
  size_t k = a.kernel.size();
  if (k < 1 || k > 3)
    ctx.fail("kernel_shape has " + std::to_string(k) + " axes; kiln supports pooling over 1 to 3 spatial axes");
  for (int64_t v : a.kernel)
    if (v < 1) ctx.fail("kernel_shape " + shape_to_string(a.kernel) + " must be positive");
  a.strides = n.attr_ints("strides", std::vector<int64_t>(k, 1));
  a.dilations = n.attr_ints("dilations", std::vector<int64_t>(k, 1));
  a.pads = n.attr_ints("pads", std::vector<int64_t>(2 * k, 0));
  if (a.strides.size() != k) ctx.fail("strides has " + std::to_string(a.strides.size()) + " values; expected " + std::to_string(k));
  if (a.dilations.size() != k)
    ctx.fail("dilations has " + std::to_string(a.dilations.size()) + " values; expected " + std::to_string(k));
  if (a.pads.size() != 2 * k) ctx.fail("pads has " + std::to_string(a.pads.size()) + " values; expected " + std::to_string(2 * k));
  for (int64_t v : a.strides)
    if (v < 1) ctx.fail("strides must be positive");
  for (int64_t v : a.dilations)
    if (v < 1) ctx.fail("dilations must be positive");
  for (int64_t v : a.pads)
    if (v < 0) ctx.fail("pads must be non-negative");

  a.auto_pad = n.attr_string("auto_pad", "NOTSET");
  if (a.auto_pad != "NOTSET" && a.auto_pad != "SAME_UPPER" && a.auto_pad != "SAME_LOWER" && a.auto_pad != "VALID")
    ctx.fail("auto_pad '" + a.auto_pad + "' is not one of NOTSET, SAME_UPPER, SAME_LOWER, VALID");
  if (a.auto_pad != "NOTSET" && std::any_of(a.pads.begin(), a.pads.end(), [](int64_t v) { return v != 0; }))
    ctx.fail("pads cannot be used together with auto_pad " + a.auto_pad);

  auto flag = [&](const char* name) {
    int64_t v = n.attr_int(name, 0);
    if (v != 0 && v != 1) ctx.fail(std::string(name) + " must be 0 or 1, got " + std::to_string(v));
    return v == 1;
  };
  a.ceil_mode = flag("ceil_mode");
  a.count_include_pad = flag("count_include_pad");
  a.storage_order = flag("storage_order") ? 1 : 0;
  return a;
}

// Output size and pads of spatial axis i for input size `in`; fails when no
// window fits.
template <class Ctx>
int64_t axis_output(const Ctx& ctx, const PoolAttrs& a, size_t i, int64_t in, int64_t& pad_begin, int64_t& pad_end) {
  size_t k = a.kernel.size();
  const ir::Node& n = ctx.node();
  int64_t s = a.strides[i], dk = dim_add(dim_mul(a.kernel[i] - 1, a.dilations[i], n), 1, n);
  auto too_small = [&](int64_t padded) {
    ctx.fail("spatial axis " + std::to_string(i) + ": the dilated kernel (" + std::to_string(dk) +
             ") is larger than the padded input (" + std::to_string(padded) + ")");
  };
  if (a.auto_pad == "SAME_UPPER" || a.auto_pad == "SAME_LOWER") {
    int64_t out = dim_add(in, s - 1, n) / s;
    int64_t total = std::max<int64_t>(0, dim_add(dim_mul(out - 1, s, n), dk, n) - in);
    pad_begin = a.auto_pad == "SAME_UPPER" ? total / 2 : total - total / 2;
    pad_end = total - pad_begin;
    return out;
  }
  if (a.auto_pad == "VALID") {
    pad_begin = pad_end = 0;
    if (in < dk) too_small(in);
    return (in - dk) / s + 1;
  }
  pad_begin = a.pads[i];
  pad_end = a.pads[i + k];
  const int64_t padded = dim_add(dim_add(in, pad_begin, n), pad_end, n);
  int64_t span = padded - dk;
  if (span < 0) too_small(padded);
  int64_t out = (a.ceil_mode ? dim_add(span, s - 1, n) / s : span / s) + 1;
  if (a.ceil_mode && (out - 1) * s >= in + pad_begin) --out;
  return out;
}

// Checks the input rank against kernel_shape and returns the output shape
// (unknown spatial dims stay -1).
ir::Shape pool_output_shape(const InferContext& ctx, const PoolAttrs& a) {
  const ir::Shape& x = in_shape(ctx, 0);
  size_t k = a.kernel.size();
  if (!x.known) return ir::Shape::unknown();
  if (x.rank() != k + 2)
    ctx.fail("input has shape " + x.str() + " (rank " + std::to_string(x.rank()) + ") but kernel_shape has " +
             std::to_string(k) + " axes; expected rank " + std::to_string(k + 2));
  std::vector<int64_t> out = x.dims;
  for (size_t i = 0; i < k; ++i) {
    int64_t pb = 0, pe = 0;
    out[i + 2] = x.dims[i + 2] < 0 ? -1 : axis_output(ctx, a, i, x.dims[i + 2], pb, pe);
  }
  return known(out);
}

// Geometry for concrete input dims (rank k + 2), spatial axes right-aligned in 3-D.
kernels::ref::PoolGeometry pool_geometry(const ComputeContext& ctx, const PoolAttrs& a, const std::vector<int64_t>& dims) {
  size_t k = a.kernel.size();
  if (dims.size() != k + 2)
    ctx.fail("input has shape " + shape_to_string(dims) + " but kernel_shape has " + std::to_string(k) +
             " axes; expected rank " + std::to_string(k + 2));
  kernels::ref::PoolGeometry g;
  size_t off = 3 - k;
  for (size_t i = 0; i < k; ++i) {
    g.in[off + i] = dims[i + 2];
    g.kernel[off + i] = a.kernel[i];
    g.stride[off + i] = a.strides[i];
    g.dilation[off + i] = a.dilations[i];
    g.out[off + i] = axis_output(ctx, a, i, dims[i + 2], g.pad_begin[off + i], g.pad_end[off + i]);
  }
  return g;
}

// Planes per parallel chunk: enough work (~32k window taps) to amortize a task.
int64_t plane_grain(int64_t work_per_plane) {
  return std::max<int64_t>(1, (int64_t{1} << 15) / std::max<int64_t>(1, work_per_plane));
}

// Float32 2-D pools on the SIMD kernel (kernels/simd/pool.h), one plane per
// index of the parallel loop; false when the shape is not 2-D.
bool pool2d_fast(ComputeContext& ctx, const kernels::ref::PoolGeometry& g, size_t axes, bool max,
                 bool count_include_pad, const Tensor& x, Tensor& y) {
  if (axes != 2 || x.dtype() != DType::Float32) return false;
  simd::Pool2dParams p;
  p.H = g.in[1];
  p.W = g.in[2];
  p.OH = g.out[1];
  p.OW = g.out[2];
  p.kh = g.kernel[1];
  p.kw = g.kernel[2];
  p.sh = g.stride[1];
  p.sw = g.stride[2];
  p.dh = g.dilation[1];
  p.dw = g.dilation[2];
  p.ph = g.pad_begin[1];
  p.pw = g.pad_begin[2];
  p.ph_end = g.pad_end[1];
  p.pw_end = g.pad_end[2];
  p.max = max;
  p.count_include_pad = count_include_pad;
  const int64_t planes = x.shape()[0] * x.shape()[1];
  const int64_t scratch = simd::pool2d_scratch_floats(p);
  const float* xp = x.data_as<float>();
  float* yp = y.data_as<float>();
  auto kernel = simd::dispatch(simd::pool2d_f32{});
  runtime::parallel_for(planes, plane_grain(g.out_plane() * p.kh * p.kw), [&](int64_t b, int64_t e) {
    thread_local simd::ThreadScratch t_buf;  // no allocation per run once grown
    const simd::ScratchLease buf(t_buf, scratch);
    for (int64_t i = b; i < e; ++i) kernel(p, xp + i * p.H * p.W, yp + i * p.OH * p.OW, buf.data());
  });
  static const std::string max_name = std::string("maxpool2d_f32_") + simd::best_arch_name();
  static const std::string avg_name = std::string("avgpool2d_f32_") + simd::best_arch_name();
  ctx.set_kernel(max ? max_name.c_str() : avg_name.c_str());
  return true;
}

void infer_max_pool(InferContext& ctx) {
  require_dtype(ctx, 0, {DType::Float32, DType::Float64, DType::Int8, DType::UInt8});
  DType t = ctx.input(0).dtype;
  if ((t == DType::Int8 || t == DType::UInt8) && ctx.node().opset < 12)
    ctx.fail("MaxPool accepts " + dtype_name(t) + " only from opset 12");
  PoolAttrs a = read_pool_attrs(ctx, PoolKind::Max);
  ir::Shape out = pool_output_shape(ctx, a);
  ctx.set_output(0, ctx.input(0).dtype, out);
  if (ctx.num_outputs() > 1) ctx.set_output(1, DType::Int64, out);
}

void compute_max_pool(ComputeContext& ctx) {
  PoolAttrs a = read_pool_attrs(ctx, PoolKind::Max);
  const Tensor& x = ctx.input(0);
  kernels::ref::PoolGeometry g = pool_geometry(ctx, a, x.shape());
  std::vector<int64_t> out_dims = {x.shape()[0], x.shape()[1]};
  for (size_t i = 0; i < a.kernel.size(); ++i) out_dims.push_back(g.out[3 - a.kernel.size() + i]);
  Tensor& y = ctx.allocate_output(0, x.dtype(), out_dims);
  int64_t* indices = nullptr;
  if (ctx.output_wanted(1)) indices = ctx.allocate_output(1, DType::Int64, out_dims).data_as<int64_t>();
  if (y.numel() == 0) return;
  if (!indices && pool2d_fast(ctx, g, a.kernel.size(), true, false, x, y)) return;
  int64_t planes = out_dims[0] * out_dims[1];
  int64_t grain = plane_grain(g.out_plane() * g.kernel[0] * g.kernel[1] * g.kernel[2]);
  auto run = [&](auto tag) {
    using T = decltype(tag);
    const T* xp = x.data_as<T>();
    T* yp = y.data_as<T>();
    runtime::parallel_for(planes, grain, [&](int64_t b, int64_t e) {
      kernels::ref::max_pool(xp, yp, indices, g, a.storage_order, b, e);
    });
  };
  switch (x.dtype()) {
    case DType::Float32: run(float{}); break;
    case DType::Float64: run(double{}); break;
    case DType::Int8: run(int8_t{}); break;
    case DType::UInt8: run(uint8_t{}); break;
    default: ctx.fail("dtype " + dtype_name(x.dtype()) + " is not supported for MaxPool");
  }
}

void infer_average_pool(InferContext& ctx) {
  require_dtype(ctx, 0, {DType::Float32, DType::Float64});
  PoolAttrs a = read_pool_attrs(ctx, PoolKind::Average);
  ctx.set_output(0, ctx.input(0).dtype, pool_output_shape(ctx, a));
}

void compute_average_pool(ComputeContext& ctx) {
  PoolAttrs a = read_pool_attrs(ctx, PoolKind::Average);
  const Tensor& x = ctx.input(0);
  kernels::ref::PoolGeometry g = pool_geometry(ctx, a, x.shape());
  std::vector<int64_t> out_dims = {x.shape()[0], x.shape()[1]};
  for (size_t i = 0; i < a.kernel.size(); ++i) out_dims.push_back(g.out[3 - a.kernel.size() + i]);
  Tensor& y = ctx.allocate_output(0, x.dtype(), out_dims);
  if (y.numel() == 0) return;
  if (pool2d_fast(ctx, g, a.kernel.size(), false, a.count_include_pad, x, y)) return;
  int64_t planes = out_dims[0] * out_dims[1];
  int64_t grain = plane_grain(g.out_plane() * g.kernel[0] * g.kernel[1] * g.kernel[2]);
  auto run = [&](auto tag) {
    using T = decltype(tag);
    runtime::parallel_for(planes, grain, [&](int64_t b, int64_t e) {
      kernels::ref::average_pool(x.data_as<T>(), y.data_as<T>(), g, a.count_include_pad, b, e);
    });
  };
  if (x.dtype() == DType::Float32) run(float{});
  else if (x.dtype() == DType::Float64) run(double{});
  else ctx.fail("dtype " + dtype_name(x.dtype()) + " is not supported for AveragePool");
}

// Global pools: N x C x D1 … → N x C x 1 … 1.
void infer_global_pool(InferContext& ctx) {
  require_dtype(ctx, 0, {DType::Float32, DType::Float64});
  const ir::Shape& x = in_shape(ctx, 0);
  if (!x.known) {
    ctx.set_output(0, ctx.input(0).dtype, ir::Shape::unknown());
    return;
  }
  if (x.rank() < 2) ctx.fail("input has shape " + x.str() + "; expected N x C x D1 … (rank >= 2)");
  std::vector<int64_t> out = x.dims;
  std::fill(out.begin() + 2, out.end(), 1);
  ctx.set_output(0, ctx.input(0).dtype, known(out));
}

template <PoolKind kind>
void compute_global_pool(ComputeContext& ctx) {
  const Tensor& x = ctx.input(0);
  if (x.rank() < 2) ctx.fail("input has shape " + shape_to_string(x.shape()) + "; expected N x C x D1 … (rank >= 2)");
  std::vector<int64_t> out = x.shape();
  std::fill(out.begin() + 2, out.end(), 1);
  int64_t planes = out[0] * out[1];
  int64_t plane_size = planes > 0 ? x.numel() / planes : 0;
  if (kind == PoolKind::Max && plane_size == 0 && planes > 0) ctx.fail("GlobalMaxPool over an empty spatial extent");
  Tensor& y = ctx.allocate_output(0, x.dtype(), out);
  if (x.dtype() == DType::Float32 && plane_size > 0) {
    static const std::string name = std::string(kind == PoolKind::Max ? "global_max_f32_" : "global_avg_f32_") +
                                    simd::best_arch_name();
    const float* xp = x.data_as<float>();
    float* yp = y.data_as<float>();
    runtime::parallel_for(planes, plane_grain(plane_size), [&](int64_t b, int64_t e) {
      for (int64_t p = b; p < e; ++p) {
        const float* xs = xp + p * plane_size;
        if constexpr (kind == PoolKind::Max) {
          // The reference starts from lowest(): an all −inf (or NaN) plane gives lowest().
          const float m = simd::dispatch(simd::max_f32{})(xs, plane_size);
          yp[p] = m > std::numeric_limits<float>::lowest() ? m : std::numeric_limits<float>::lowest();
        } else {
          yp[p] = static_cast<float>(simd::dispatch(simd::sum_f32{})(xs, plane_size) / static_cast<double>(plane_size));
        }
      }
    });
    ctx.set_kernel(name.c_str());
    return;
  }
  auto run = [&](auto tag) {
    using T = decltype(tag);
    runtime::parallel_for(planes, plane_grain(plane_size), [&](int64_t b, int64_t e) {
      if constexpr (kind == PoolKind::Max) kernels::ref::global_max_pool(x.data_as<T>(), y.data_as<T>(), plane_size, b, e);
      else kernels::ref::global_average_pool(x.data_as<T>(), y.data_as<T>(), plane_size, b, e);
    });
  };
  if (x.dtype() == DType::Float32) run(float{});
  else if (x.dtype() == DType::Float64) run(double{});
  else ctx.fail("dtype " + dtype_name(x.dtype()) + " is not supported here");
}

OpSchema pool_schema(const char* name, int since, int until, int max_outputs) {
  OpSchema s;
  s.op_type = name;
  s.since_version = since;
  s.until_version = until;
  s.min_inputs = s.max_inputs = 1;
  s.min_outputs = 1;
  s.max_outputs = max_outputs;
  return s;
}

}  // namespace

void register_pool_ops(OpRegistry& r) {
  // MaxPool-1 has one output; from 8 an optional Indices output (and
  // storage_order), from 10 ceil_mode and dilations, from 12 int8/uint8.
  for (auto [since, until, outs] : {std::tuple{1, 7, 1}, std::tuple{8, 1000, 2}}) {
    OpSchema s = pool_schema("MaxPool", since, until, outs);
    s.infer = infer_max_pool;
    s.compute = compute_max_pool;
    r.add(std::move(s));
  }
  // AveragePool: count_include_pad from 7, ceil_mode from 10, dilations from 19.
  OpSchema avg = pool_schema("AveragePool", 1, 1000, 1);
  avg.infer = infer_average_pool;
  avg.compute = compute_average_pool;
  r.add(std::move(avg));

  OpSchema gmax = pool_schema("GlobalMaxPool", 1, 1000, 1);
  gmax.infer = infer_global_pool;
  gmax.compute = compute_global_pool<PoolKind::Max>;
  r.add(std::move(gmax));
  OpSchema gavg = pool_schema("GlobalAveragePool", 1, 1000, 1);
  gavg.infer = infer_global_pool;
  gavg.compute = compute_global_pool<PoolKind::Average>;
  r.add(std::move(gavg));
}

}  // namespace kiln::ops
