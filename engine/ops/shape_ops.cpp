// The shape-op family: registration, the helpers its files share, and the ops
// that only pass data through or describe it (Shape, ConstantOfShape,
// Identity, Dropout in inference).
#include <algorithm>
#include <cstring>

#include "core/tensor_stats.h"
#include "ops/shape_ops_internal.h"

namespace kiln::ops {

namespace shape_detail {

void require_movable(const InferContext& ctx, size_t i) {
  DType t = ctx.input(i).dtype;
  if (!dtype_is_supported(t)) ctx.fail("input " + std::to_string(i) + " has dtype " + dtype_name(t) + ", not supported by kiln");
}

void require_index_dtype(const InferContext& ctx, size_t i, const char* what, bool allow_int32) {
  DType t = ctx.input(i).dtype;
  if (t == DType::Int64 || (allow_int32 && t == DType::Int32)) return;
  ctx.fail(std::string(what) + " (input " + std::to_string(i) + ") must be int64" + (allow_int32 ? " or int32" : "") +
           ", got " + dtype_name(t));
}

std::optional<std::vector<int64_t>> constant_ints(const InferContext& ctx, size_t i, const char* what) {
  if (!ctx.has_input(i) || !ctx.input(i).constant) return std::nullopt;
  return to_int64s(*ctx.input(i).constant, ctx.node(), what);
}

std::vector<int64_t> input_ints(const ComputeContext& ctx, size_t i, const char* what, std::vector<int64_t> def) {
  if (!ctx.has_input(i)) return def;
  return to_int64s(ctx.input(i), ctx.node(), what);
}

int64_t known_length(const InferContext& ctx, size_t i) {
  if (!ctx.has_input(i)) return -1;
  const ir::Shape& s = ctx.input(i).shape;
  if (!s.known) return -1;
  if (s.rank() == 0) return 1;
  if (s.rank() == 1) return s.dims[0];
  return -1;
}

ir::Shape unknown_dims(size_t rank) { return ir::Shape::of(std::vector<int64_t>(rank, -1)); }

void set_view_output(ComputeContext& ctx, size_t out, size_t in, std::vector<int64_t> shape,
                     std::optional<int64_t> element_offset) {
  const Tensor& x = ctx.input(in);
  const ir::Node& n = ctx.node();
  bool must_copy = (n.has_input(in) && n.inputs[in]->constant) || (n.has_output(out) && n.outputs[out]->is_graph_output);
  if (must_copy) {
    Tensor& y = ctx.allocate_output(out, x.dtype(), std::move(shape));
    const size_t es = dtype_size(x.dtype());
    const int64_t from = element_offset.value_or(0) * static_cast<int64_t>(es);
    if (y.nbytes()) std::memcpy(y.data(), static_cast<const char*>(x.data()) + from, y.nbytes());
  } else if (element_offset) {
    ctx.set_output(out, detail::subview(x, *element_offset, std::move(shape)));
  } else {
    ctx.set_output(out, x.reshaped(std::move(shape)));
  }
}

std::vector<int64_t> normalize_axes(const ir::Node& node, std::vector<int64_t> axes, int64_t rank, const char* what,
                                    bool allow_repeat) {
  for (int64_t& a : axes) a = normalize_axis(a, rank, node, what);
  if (!allow_repeat) {
    std::vector<int64_t> sorted = axes;
    std::sort(sorted.begin(), sorted.end());
    if (std::adjacent_find(sorted.begin(), sorted.end()) != sorted.end())
      throw Error(node.describe() + ": " + what + " lists an axis twice");
  }
  return axes;
}

}  // namespace shape_detail

namespace {

using namespace shape_detail;

// Shape-15: the slice [start, end) of the input's dims, both clamped to [0, rank]
// after adding rank to negative values.
std::pair<int64_t, int64_t> shape_range(const ir::Node& n, int64_t rank) {
  if (n.opset < 15) return {0, rank};
  auto clamp = [&](int64_t v) { return std::clamp(v < 0 ? v + rank : v, int64_t{0}, rank); };
  int64_t start = clamp(n.attr_int("start", 0));
  int64_t end = clamp(n.attr_int("end", rank));
  return {start, std::max(start, end)};
}

void add_shape(OpRegistry& r) {
  OpSchema s;
  s.op_type = "Shape";
  s.since_version = 1;
  s.min_inputs = s.max_inputs = 1;
  s.infer = [](InferContext& ctx) {
    require_movable(ctx, 0);
    const ir::Shape& x = in_shape(ctx, 0);
    if (!x.known) {
      ctx.set_output(0, DType::Int64, known({-1}));
      return;
    }
    auto [b, e] = shape_range(ctx.node(), static_cast<int64_t>(x.rank()));
    ctx.set_output(0, DType::Int64, known({e - b}));
  };
  s.compute = [](ComputeContext& ctx) {
    const auto& dims = ctx.input(0).shape();
    auto [b, e] = shape_range(ctx.node(), static_cast<int64_t>(dims.size()));
    Tensor& y = ctx.allocate_output(0, DType::Int64, {e - b});
    std::copy(dims.begin() + b, dims.begin() + e, y.data_as<int64_t>());
  };
  r.add(std::move(s));
}

// ConstantOfShape-9: a tensor of the given shape filled with `value` (a
// one-element tensor attribute; float32 0 when absent).
Tensor constant_of_shape_value(const ir::Node& n) {
  const Tensor* v = n.attr_tensor("value");
  if (!v) return Tensor(DType::Float32, {1});
  if (v->numel() != 1)
    throw Error(n.describe() + ": attribute 'value' must hold one element, got shape " + shape_to_string(v->shape()));
  if (!dtype_is_supported(v->dtype()))
    throw Error(n.describe() + ": attribute 'value' has dtype " + dtype_name(v->dtype()) + ", not supported by kiln");
  return *v;
}

void check_dims(const ir::Node& n, const std::vector<int64_t>& dims) {
  for (int64_t d : dims)
    if (d < 0) throw Error(n.describe() + ": shape " + shape_to_string(dims) + " has a negative dimension");
}

void add_constant_of_shape(OpRegistry& r) {
  OpSchema s;
  s.op_type = "ConstantOfShape";
  s.since_version = 9;
  s.min_inputs = s.max_inputs = 1;
  s.infer = [](InferContext& ctx) {
    require_index_dtype(ctx, 0, "shape");
    DType t = constant_of_shape_value(ctx.node()).dtype();
    if (auto dims = constant_ints(ctx, 0, "shape")) {
      check_dims(ctx.node(), *dims);
      ctx.set_output(0, t, known(*dims));
    } else {
      int64_t len = known_length(ctx, 0);
      ctx.set_output(0, t, len >= 0 ? unknown_dims(static_cast<size_t>(len)) : ir::Shape::unknown());
    }
  };
  s.compute = [](ComputeContext& ctx) {
    Tensor v = constant_of_shape_value(ctx.node());
    std::vector<int64_t> dims = to_int64s(ctx.input(0), ctx.node(), "shape");
    check_dims(ctx.node(), dims);
    Tensor& y = ctx.allocate_output(0, v.dtype(), dims);
    const size_t es = dtype_size(v.dtype());
    char* out = static_cast<char*>(y.data());
    for (int64_t i = 0; i < y.numel(); ++i) std::memcpy(out + i * es, v.data(), es);
  };
  r.add(std::move(s));
}

void add_identity(OpRegistry& r) {
  OpSchema s;
  s.op_type = "Identity";
  s.since_version = 1;
  s.min_inputs = s.max_inputs = 1;
  s.infer = [](InferContext& ctx) {
    require_movable(ctx, 0);
    ctx.set_output(0, ctx.input(0).dtype, in_shape(ctx, 0));
  };
  s.compute = [](ComputeContext& ctx) { set_view_output(ctx, 0, 0, ctx.input(0).shape()); };
  r.add(std::move(s));
}

// Dropout at inference: y = x, mask all true (ones of T before opset 10).
// Opset 12+ takes training_mode as an input; training with a non-zero ratio
// draws random numbers, which kiln refuses rather than silently ignoring.
DType dropout_mask_dtype(const ir::Node& n, DType x) { return n.opset >= 10 ? DType::Bool : x; }

void fill_ones(Tensor& t) {
  const size_t n = static_cast<size_t>(t.numel());
  switch (t.dtype()) {
    case DType::Bool: std::fill_n(t.data_as<uint8_t>(), n, uint8_t{1}); break;
    case DType::Float32: std::fill_n(t.data_as<float>(), n, 1.f); break;
    case DType::Float64: std::fill_n(t.data_as<double>(), n, 1.0); break;
    case DType::Float16: std::fill_n(t.data_as<uint16_t>(), n, uint16_t{0x3C00}); break;   // 1.0 in binary16
    case DType::BFloat16: std::fill_n(t.data_as<uint16_t>(), n, uint16_t{0x3F80}); break;  // 1.0 in bfloat16
    default: break;
  }
}

void check_dropout_training(const ir::Node& n, const Tensor* ratio, const Tensor* training) {
  if (!training) return;
  if (training->dtype() != DType::Bool || training->numel() != 1)
    throw Error(n.describe() + ": training_mode must be a bool scalar");
  if (!*training->data_as<uint8_t>()) return;
  double p = ratio ? scalar_as_double(*ratio, n, "ratio") : 0.5;
  if (p != 0)
    throw Error(n.describe() + ": training_mode is true with ratio " + std::to_string(p) +
                "; kiln runs inference only and does not apply random dropout");
}

void add_dropout(OpRegistry& r) {
  OpSchema s;
  s.op_type = "Dropout";
  s.since_version = 1;
  s.min_inputs = 1;
  s.max_inputs = 3;
  s.min_outputs = 1;
  s.max_outputs = 2;
  s.infer = [](InferContext& ctx) {
    const ir::Node& n = ctx.node();
    DType t = ctx.input(0).dtype;
    if (t != DType::Float32 && t != DType::Float64 && t != DType::Float16 && t != DType::BFloat16)
      ctx.fail("input 0 has dtype " + dtype_name(t) + "; Dropout takes a floating-point tensor");
    if (n.opset < 12 && ctx.num_inputs() > 1) ctx.fail("takes one input before opset 12");
    if (ctx.has_input(2)) {
      if (ctx.input(2).dtype != DType::Bool) ctx.fail("training_mode must be bool, got " + dtype_name(ctx.input(2).dtype));
      if (ctx.input(2).constant)
        check_dropout_training(n, ctx.has_input(1) ? ctx.input(1).constant : nullptr, ctx.input(2).constant);
    }
    ctx.set_output(0, t, in_shape(ctx, 0));
    ctx.set_output(1, dropout_mask_dtype(n, t), in_shape(ctx, 0));
  };
  s.compute = [](ComputeContext& ctx) {
    const ir::Node& n = ctx.node();
    if (ctx.has_input(2))
      check_dropout_training(n, ctx.has_input(1) ? &ctx.input(1) : nullptr, &ctx.input(2));
    const Tensor& x = ctx.input(0);
    set_view_output(ctx, 0, 0, x.shape());
    if (ctx.output_wanted(1)) fill_ones(ctx.allocate_output(1, dropout_mask_dtype(n, x.dtype()), x.shape()));
  };
  r.add(std::move(s));
}

}  // namespace

void register_shape_ops(OpRegistry& r) {
  add_shape(r);
  add_constant_of_shape(r);
  add_identity(r);
  add_dropout(r);
  shape_detail::register_reshape_ops(r);
  shape_detail::register_transpose_ops(r);
  shape_detail::register_concat_split_ops(r);
  shape_detail::register_slice_gather_ops(r);
  shape_detail::register_expand_tile_ops(r);
  shape_detail::register_pad_ops(r);
}

}  // namespace kiln::ops
