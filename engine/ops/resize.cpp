// Resize (opsets 10-19) and Upsample (1-9): nearest, n-linear and n-cubic
// interpolation with every coordinate transformation of the spec. Output
// sizes come from scales (floor(in · scale)) or sizes (optionally keeping the
// aspect ratio). Nearest moves elements of any dtype; linear and cubic
// compute in double over float32/float64.
#include <cmath>
#include <cstring>

#include "kernels/reference/copy.h"
#include "kernels/reference/resize.h"
#include "ops/op_util.h"
#include "runtime/parallel.h"

namespace kiln::ops {

namespace {

namespace ref = kernels::ref;

// Everything the attributes say, parsed once per call.
struct ResizeAttrs {
  ref::InterpMode interp = ref::InterpMode::Nearest;
  ref::CoordMode coord = ref::CoordMode::HalfPixel;
  ref::NearestMode nearest = ref::NearestMode::RoundPreferFloor;
  double cubic_a = -0.75;
  bool exclude_outside = false;
  bool antialias = false;
  double extrapolation = 0;
  std::string keep_aspect = "stretch";
  std::vector<int64_t> axes;  // empty: all axes
};

bool is_upsample(const ir::Node& n) { return n.op_type == "Upsample"; }

ResizeAttrs parse_attrs(const ir::Node& n) {
  ResizeAttrs a;
  std::string mode = n.attr_string("mode", "nearest");
  if (mode == "nearest") a.interp = ref::InterpMode::Nearest;
  else if (mode == "linear" || (is_upsample(n) && mode == "bilinear")) a.interp = ref::InterpMode::Linear;
  else if (mode == "cubic" && !is_upsample(n) && n.opset >= 11) a.interp = ref::InterpMode::Cubic;
  else throw Error(n.describe() + ": mode '" + mode + "' is not supported");

  if (is_upsample(n) || n.opset < 11) {
    // Before Resize-11 the transformation is x / scale and nearest rounds by
    // the "simple" rule.
    a.coord = ref::CoordMode::Asymmetric;
    a.nearest = ref::NearestMode::Simple;
    return a;
  }
  std::string coord = n.attr_string("coordinate_transformation_mode", "half_pixel");
  if (coord == "half_pixel") a.coord = ref::CoordMode::HalfPixel;
  else if (coord == "half_pixel_symmetric" && n.opset >= 18) a.coord = ref::CoordMode::HalfPixelSymmetric;
  else if (coord == "pytorch_half_pixel") a.coord = ref::CoordMode::PytorchHalfPixel;
  else if (coord == "align_corners") a.coord = ref::CoordMode::AlignCorners;
  else if (coord == "asymmetric") a.coord = ref::CoordMode::Asymmetric;
  else if (coord == "tf_crop_and_resize") a.coord = ref::CoordMode::TfCropAndResize;
  else if (coord == "tf_half_pixel_for_nn" && n.opset < 13) {
    throw Error(n.describe() + ": coordinate_transformation_mode 'tf_half_pixel_for_nn' is not supported");
  } else {
    throw Error(n.describe() + ": coordinate_transformation_mode '" + coord + "' is not supported at this opset");
  }
  std::string nm = n.attr_string("nearest_mode", "round_prefer_floor");
  if (nm == "round_prefer_floor") a.nearest = ref::NearestMode::RoundPreferFloor;
  else if (nm == "round_prefer_ceil") a.nearest = ref::NearestMode::RoundPreferCeil;
  else if (nm == "floor") a.nearest = ref::NearestMode::Floor;
  else if (nm == "ceil") a.nearest = ref::NearestMode::Ceil;
  else throw Error(n.describe() + ": nearest_mode '" + nm + "' is not supported");
  a.cubic_a = n.attr_float("cubic_coeff_a", -0.75f);
  a.exclude_outside = n.attr_int("exclude_outside", 0) != 0;
  a.extrapolation = n.attr_float("extrapolation_value", 0.f);
  if (n.opset >= 18) {
    a.antialias = n.attr_int("antialias", 0) != 0;
    a.axes = n.attr_ints("axes");
    a.keep_aspect = n.attr_string("keep_aspect_ratio_policy", "stretch");
    if (a.keep_aspect != "stretch" && a.keep_aspect != "not_larger" && a.keep_aspect != "not_smaller")
      throw Error(n.describe() + ": keep_aspect_ratio_policy '" + a.keep_aspect + "' is not supported");
  }
  return a;
}

// Input slots: Resize-10 (X, scales); Resize-11+ (X, roi, scales, sizes);
// Upsample-9 (X, scales); Upsample-1/7 take scales as attributes.
int scales_slot(const ir::Node& n) {
  if (is_upsample(n)) return n.opset >= 9 ? 1 : -1;
  return n.opset >= 11 ? 2 : 1;
}
int sizes_slot(const ir::Node& n) { return !is_upsample(n) && n.opset >= 11 ? 3 : -1; }
int roi_slot(const ir::Node& n) { return !is_upsample(n) && n.opset >= 11 ? 1 : -1; }

std::vector<double> attr_scales(const ir::Node& n) {
  if (n.opset >= 7) {
    if (!n.has_attr("scales")) throw Error(n.describe() + ": attribute 'scales' is required");
    std::vector<float> f = n.attr_floats("scales");
    return {f.begin(), f.end()};
  }
  // Upsample-1: NCHW with height_scale and width_scale.
  if (!n.has_attr("height_scale") || !n.has_attr("width_scale"))
    throw Error(n.describe() + ": attributes 'height_scale' and 'width_scale' are required");
  return {1.0, 1.0, n.attr_float("height_scale", 1.f), n.attr_float("width_scale", 1.f)};
}

std::vector<double> float_values(const Tensor& t, const ir::Node& n, const char* what) {
  std::vector<double> v(static_cast<size_t>(t.numel()));
  if (t.dtype() == DType::Float32) std::copy_n(t.data_as<float>(), v.size(), v.begin());
  else if (t.dtype() == DType::Float64) std::copy_n(t.data_as<double>(), v.size(), v.begin());
  else throw Error(n.describe() + ": " + what + " must be float32 or float64, got " + dtype_name(t.dtype()));
  return v;
}

// An output extent computed in floating point (already rounded): huge,
// infinite or NaN values (from absurd scales, or a zero input extent) are an
// error rather than an undefined float-to-integer conversion.
int64_t output_extent(const ir::Node& n, double x) {
  if (!(x >= 0 && x < 0x1p62)) throw Error(n.describe() + ": output size " + std::to_string(x) + " is out of range");
  return static_cast<int64_t>(x);
}

// The resolved geometry: output dims, per-axis scale, per-axis roi.
struct Plan {
  std::vector<int64_t> out;
  std::vector<double> scale, roi_start, roi_end;
};

// scales / sizes / roi as given (tensors may be absent or empty); in dims concrete.
Plan plan_resize(const ir::Node& n, const ResizeAttrs& a, const std::vector<int64_t>& in, const std::vector<double>* scales,
                 const std::vector<int64_t>* sizes, const std::vector<double>* roi) {
  const size_t rank = in.size();
  std::vector<int64_t> axes;
  if (a.axes.empty())
    for (size_t i = 0; i < rank; ++i) axes.push_back(static_cast<int64_t>(i));
  else
    for (int64_t ax : a.axes) axes.push_back(normalize_axis(ax, static_cast<int64_t>(rank), n, "axes"));
  const size_t k = axes.size();
  Plan p;
  p.out = in;
  p.scale.assign(rank, 1.0);
  p.roi_start.assign(rank, 0.0);
  p.roi_end.assign(rank, 1.0);
  if (roi && !roi->empty() && a.coord == ref::CoordMode::TfCropAndResize) {
    if (roi->size() != 2 * k)
      throw Error(n.describe() + ": roi has " + std::to_string(roi->size()) + " values; expected " + std::to_string(2 * k));
    for (size_t i = 0; i < k; ++i) {
      p.roi_start[static_cast<size_t>(axes[i])] = (*roi)[i];
      p.roi_end[static_cast<size_t>(axes[i])] = (*roi)[k + i];
    }
  }
  const bool has_scales = scales && !scales->empty(), has_sizes = sizes && !sizes->empty();
  if (has_scales && has_sizes) throw Error(n.describe() + ": only one of scales and sizes may be given");
  if (!has_scales && !has_sizes) throw Error(n.describe() + ": one of scales and sizes must be given");
  if (has_scales) {
    if (scales->size() != k)
      throw Error(n.describe() + ": scales has " + std::to_string(scales->size()) + " values; expected " + std::to_string(k));
    for (size_t i = 0; i < k; ++i) {
      double s = (*scales)[i];
      if (!(s > 0) || !std::isfinite(s)) throw Error(n.describe() + ": scales must be positive, got " + std::to_string(s));
      if (is_upsample(n) && s < 1) throw Error(n.describe() + ": Upsample scales must be >= 1, got " + std::to_string(s));
      size_t d = static_cast<size_t>(axes[i]);
      p.scale[d] = s;
      p.out[d] = output_extent(n, std::floor(static_cast<double>(in[d]) * s));
    }
    return p;
  }
  if (sizes->size() != k)
    throw Error(n.describe() + ": sizes has " + std::to_string(sizes->size()) + " values; expected " + std::to_string(k));
  for (int64_t v : *sizes)
    if (v < 0) throw Error(n.describe() + ": sizes " + shape_to_string(*sizes) + " has a negative entry");
  if (a.keep_aspect == "stretch") {
    for (size_t i = 0; i < k; ++i) {
      size_t d = static_cast<size_t>(axes[i]);
      p.out[d] = (*sizes)[i];
      p.scale[d] = in[d] ? static_cast<double>((*sizes)[i]) / static_cast<double>(in[d]) : 1.0;
    }
    return p;
  }
  // One scale for all listed axes, the largest (not_smaller) or smallest
  // (not_larger) of sizes/in; out = round-half-up(scale · in).
  double s = a.keep_aspect == "not_larger" ? INFINITY : 0;
  for (size_t i = 0; i < k; ++i) {
    double r = static_cast<double>((*sizes)[i]) / static_cast<double>(in[static_cast<size_t>(axes[i])]);
    s = a.keep_aspect == "not_larger" ? std::min(s, r) : std::max(s, r);
  }
  for (size_t i = 0; i < k; ++i) {
    size_t d = static_cast<size_t>(axes[i]);
    p.scale[d] = s;
    p.out[d] = output_extent(n, std::floor(s * static_cast<double>(in[d]) + 0.5));
  }
  return p;
}

void check_inputs(const InferContext& ctx) {
  const ir::Node& n = ctx.node();
  if (!dtype_is_supported(ctx.input(0).dtype)) ctx.fail("input 0 has unsupported dtype " + dtype_name(ctx.input(0).dtype));
  int ss = scales_slot(n), zs = sizes_slot(n), rs = roi_slot(n);
  if (ss >= 0 && ctx.has_input(static_cast<size_t>(ss)) && ctx.input(static_cast<size_t>(ss)).dtype != DType::Float32)
    ctx.fail("scales must be float32, got " + dtype_name(ctx.input(static_cast<size_t>(ss)).dtype));
  if (zs >= 0 && ctx.has_input(static_cast<size_t>(zs)) && ctx.input(static_cast<size_t>(zs)).dtype != DType::Int64)
    ctx.fail("sizes must be int64, got " + dtype_name(ctx.input(static_cast<size_t>(zs)).dtype));
  if (rs >= 0 && ctx.has_input(static_cast<size_t>(rs)) && !is_float(ctx.input(static_cast<size_t>(rs)).dtype))
    ctx.fail("roi must be float32 or float64, got " + dtype_name(ctx.input(static_cast<size_t>(rs)).dtype));
  if (ss < 0 && ctx.num_inputs() > 1) ctx.fail("takes one input at this opset");
}

void infer_resize(InferContext& ctx) {
  const ir::Node& n = ctx.node();
  check_inputs(ctx);
  ResizeAttrs a = parse_attrs(n);
  DType t = ctx.input(0).dtype;
  if (a.interp != ref::InterpMode::Nearest && !is_float(t))
    ctx.fail(std::string(a.interp == ref::InterpMode::Linear ? "linear" : "cubic") +
             " interpolation supports float32 and float64, got " + dtype_name(t));
  const ir::Shape& in = in_shape(ctx, 0);
  if (!in.known) {
    ctx.set_output(0, t, ir::Shape::unknown());
    return;
  }
  int ss = scales_slot(n), zs = sizes_slot(n), rs = roi_slot(n);
  auto constant = [&](int slot) -> const Tensor* {
    return slot >= 0 && ctx.has_input(static_cast<size_t>(slot)) ? ctx.input(static_cast<size_t>(slot)).constant : nullptr;
  };
  auto present = [&](int slot) { return slot >= 0 && ctx.has_input(static_cast<size_t>(slot)); };
  // Known only when every present geometry input is constant.
  bool all_const = (!present(ss) || constant(ss)) && (!present(zs) || constant(zs)) && (!present(rs) || constant(rs));
  if (!all_const || !in.fully_known()) {
    ctx.set_output(0, t, ir::Shape::of(std::vector<int64_t>(in.rank(), -1)));
    return;
  }
  std::vector<double> scales, roi;
  std::vector<int64_t> sizes;
  if (ss < 0) scales = attr_scales(n);
  else if (constant(ss)) scales = float_values(*constant(ss), n, "scales");
  if (constant(zs)) sizes = to_int64s(*constant(zs), n, "sizes");
  if (constant(rs)) roi = float_values(*constant(rs), n, "roi");
  ctx.set_output(0, t, known(plan_resize(n, a, in.dims, &scales, &sizes, &roi).out));
}

// Writes the extrapolation value as one element of dtype t (nearest mode with
// tf_crop_and_resize); other dtypes never need it.
std::vector<char> fill_element(const ComputeContext& ctx, DType t, double v) {
  std::vector<char> bytes(dtype_size(t), 0);
  if (v == 0) return bytes;
  dispatch_all(t, ctx, [&](auto tag) {
    using T = decltype(tag);
    T x = static_cast<T>(v);
    std::memcpy(bytes.data(), &x, sizeof x);
  });
  return bytes;
}

void compute_resize(ComputeContext& ctx) {
  const ir::Node& n = ctx.node();
  ResizeAttrs a = parse_attrs(n);
  const Tensor& x = ctx.input(0);
  const auto& in = x.shape();
  int ss = scales_slot(n), zs = sizes_slot(n), rs = roi_slot(n);
  std::vector<double> scales, roi;
  std::vector<int64_t> sizes;
  if (ss < 0) scales = attr_scales(n);
  else if (ctx.has_input(static_cast<size_t>(ss))) scales = float_values(ctx.input(static_cast<size_t>(ss)), n, "scales");
  if (zs >= 0 && ctx.has_input(static_cast<size_t>(zs))) sizes = to_int64s(ctx.input(static_cast<size_t>(zs)), n, "sizes");
  if (rs >= 0 && ctx.has_input(static_cast<size_t>(rs))) roi = float_values(ctx.input(static_cast<size_t>(rs)), n, "roi");
  Plan p = plan_resize(n, a, in, &scales, &sizes, &roi);
  Tensor& y = ctx.allocate_output(0, x.dtype(), p.out);
  if (y.numel() == 0) return;
  for (size_t d = 0; d < in.size(); ++d)
    if (in[d] == 0) ctx.fail("cannot resize axis " + std::to_string(d) + " of size 0 to size " + std::to_string(p.out[d]));

  auto axis_params = [&](size_t d) {
    ref::ResizeAxisParams q;
    q.in_len = in[d];
    q.out_len = p.out[d];
    q.scale = p.scale[d];
    q.coord = a.coord;
    q.interp = a.interp;
    q.nearest = a.nearest;
    q.cubic_a = a.cubic_a;
    q.exclude_outside = a.exclude_outside;
    q.antialias = a.antialias;
    q.roi_start = p.roi_start[d];
    q.roi_end = p.roi_end[d];
    return q;
  };
  // An axis left as it is: same length, scale 1, and no crop window.
  auto untouched = [&](size_t d) {
    return p.out[d] == in[d] && p.scale[d] == 1.0 &&
           (a.coord != ref::CoordMode::TfCropAndResize || (p.roi_start[d] == 0 && p.roi_end[d] == 1));
  };

  if (a.interp == ref::InterpMode::Nearest) {
    // One source index per output position and axis: a gather of elements.
    std::vector<std::vector<int64_t>> maps(in.size());
    for (size_t d = 0; d < in.size(); ++d) {
      if (untouched(d)) {
        maps[d].resize(static_cast<size_t>(in[d]));
        for (int64_t i = 0; i < in[d]; ++i) maps[d][static_cast<size_t>(i)] = i;
        continue;
      }
      ref::ResizeTaps t = ref::resize_taps(axis_params(d));
      maps[d].resize(static_cast<size_t>(p.out[d]));
      for (int64_t j = 0; j < p.out[d]; ++j)
        maps[d][static_cast<size_t>(j)] = t.extrapolate[static_cast<size_t>(j)] ? -1 : t.index[static_cast<size_t>(j)];
    }
    std::vector<char> fill = fill_element(ctx, x.dtype(), a.coord == ref::CoordMode::TfCropAndResize ? a.extrapolation : 0);
    ref::copy_mapped(x.data(), y.data(), dtype_size(x.dtype()), in, maps, fill.data());
    return;
  }

  // Linear / cubic: one separable pass per resized axis, in double.
  std::vector<double> cur(static_cast<size_t>(x.numel()));
  if (x.dtype() == DType::Float32) std::copy_n(x.data_as<float>(), cur.size(), cur.begin());
  else std::copy_n(x.data_as<double>(), cur.size(), cur.begin());
  std::vector<int64_t> dims = in;
  std::vector<double> next;
  for (size_t d = 0; d < in.size(); ++d) {
    if (untouched(d)) continue;
    ref::ResizeTaps t = ref::resize_taps(axis_params(d));
    int64_t outer = 1, inner = 1;
    for (size_t e = 0; e < d; ++e) outer *= dims[e];
    for (size_t e = d + 1; e < dims.size(); ++e) inner *= dims[e];
    const int64_t in_len = dims[d], out_len = p.out[d];
    next.assign(static_cast<size_t>(outer * out_len * inner), 0.0);
    const double* src = cur.data();
    double* dst = next.data();
    const int64_t grain = std::max<int64_t>(1, 16384 / std::max<int64_t>(1, out_len * inner));
    runtime::parallel_for(outer, grain, [&](int64_t b, int64_t e) {
      ref::resize_axis(src + b * in_len * inner, dst + b * out_len * inner, e - b, in_len, out_len, inner, t,
                       a.extrapolation);
    });
    cur.swap(next);
    dims[d] = out_len;
  }
  if (x.dtype() == DType::Float32) {
    float* out = y.data_as<float>();
    for (size_t i = 0; i < cur.size(); ++i) out[i] = static_cast<float>(cur[i]);
  } else {
    std::copy(cur.begin(), cur.end(), y.data_as<double>());
  }
}

}  // namespace

void register_resize_ops(OpRegistry& r) {
  OpSchema s;
  s.op_type = "Resize";
  s.since_version = 10;
  s.min_inputs = 1;
  s.max_inputs = 4;
  s.infer = [](InferContext& ctx) {
    const ir::Node& n = ctx.node();
    if (n.opset < 11 && ctx.num_inputs() != 2) ctx.fail("takes two inputs (X, scales) at opset 10");
    infer_resize(ctx);
  };
  s.compute = compute_resize;
  r.add(s);

  OpSchema u;
  u.op_type = "Upsample";
  u.since_version = 1;
  u.until_version = 9;  // deprecated at opset 10 in favour of Resize
  u.min_inputs = 1;
  u.max_inputs = 2;
  u.infer = [](InferContext& ctx) {
    const ir::Node& n = ctx.node();
    if (n.opset >= 9 && ctx.num_inputs() != 2) ctx.fail("takes two inputs (X, scales) from opset 9 on");
    infer_resize(ctx);
  };
  u.compute = compute_resize;
  r.add(u);
}

}  // namespace kiln::ops
