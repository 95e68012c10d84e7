// Ops that change only the shape, never the element order: Reshape, Flatten,
// Squeeze, Unsqueeze. The output shares the input's storage where safe.
#include <algorithm>

#include "ops/shape_ops_internal.h"

namespace kiln::ops::shape_detail {

namespace {

// Product of dims with a bound well below int64 overflow (bigger shapes are
// refused anyway when allocated).
int64_t product(const ir::Node& n, const std::vector<int64_t>& dims, size_t begin, size_t end) {
  int64_t p = 1;
  for (size_t i = begin; i < end; ++i) {
    if (dims[i] != 0 && p > (int64_t{1} << 60) / dims[i])
      throw Error(n.describe() + ": element count of " + shape_to_string(dims) + " overflows");
    p *= dims[i];
  }
  return p;
}

// Reshape's output from the input's (possibly partial) shape and the target:
// 0 copies the input dim at that position (unless allowzero), -1 takes what is
// left of the element count. Unknown input dims that are copied through a 0
// cancel out, so [N, 512, 1, 1] → [0, -1] still infers [N, 512].
ir::Shape reshape_output(const ir::Node& n, const ir::Shape& in, const std::vector<int64_t>& target, bool allowzero) {
  int64_t neg_at = -1;
  bool has_zero = false;
  for (size_t i = 0; i < target.size(); ++i) {
    int64_t t = target[i];
    if (t < -1) throw Error(n.describe() + ": shape " + shape_to_string(target) + " has invalid dim " + std::to_string(t));
    if (t == -1) {
      if (neg_at >= 0) throw Error(n.describe() + ": shape has more than one -1 (" + shape_to_string(target) + ")");
      neg_at = static_cast<int64_t>(i);
    }
    if (t == 0) has_zero = true;
  }
  if (allowzero && has_zero && neg_at >= 0)
    throw Error(n.describe() + ": with allowzero=1 the shape cannot hold both 0 and -1");

  std::vector<int64_t> out(target.size());
  std::vector<bool> copied(in.known ? in.rank() : 0, false);
  for (size_t i = 0; i < target.size(); ++i) {
    int64_t t = target[i];
    if (t == 0 && !allowzero) {
      if (in.known && i >= in.rank())
        throw Error(n.describe() + ": shape entry " + std::to_string(i) + " is 0 (copy the input dim) but the input has rank " +
                    std::to_string(in.rank()));
      out[i] = in.known ? in.dims[i] : -1;
      if (in.known) copied[i] = true;
    } else {
      out[i] = t;
    }
  }
  if (!in.known) return ir::Shape::of(out);

  // Element counts over the dims that are not copied one-to-one.
  bool in_known = true, out_known = true;
  std::vector<int64_t> in_rest, out_rest;
  for (size_t i = 0; i < in.rank(); ++i) {
    if (copied[i]) continue;
    if (in.dims[i] < 0) in_known = false;
    else in_rest.push_back(in.dims[i]);
  }
  for (size_t i = 0; i < out.size(); ++i) {
    if (static_cast<int64_t>(i) == neg_at || (i < copied.size() && copied[i])) continue;
    if (out[i] < 0) out_known = false;
    else out_rest.push_back(out[i]);
  }
  if (!in_known || !out_known) return ir::Shape::of(out);
  int64_t in_count = product(n, in_rest, 0, in_rest.size());
  int64_t out_count = product(n, out_rest, 0, out_rest.size());
  auto mismatch = [&] {
    return Error(n.describe() + ": cannot reshape " + in.str() + " to " + shape_to_string(target) +
                 " (element counts differ)");
  };
  if (neg_at >= 0) {
    if (out_count == 0) {
      if (in_count != 0) throw mismatch();
      throw Error(n.describe() + ": cannot infer the -1 dim of " + shape_to_string(target) + " when other dims are 0");
    }
    if (in_count % out_count != 0) throw mismatch();
    out[static_cast<size_t>(neg_at)] = in_count / out_count;
  } else if (in_count != out_count) {
    throw mismatch();
  }
  return ir::Shape::of(out);
}

std::vector<int64_t> reshape_target(const ir::Node& n, const std::vector<int64_t>* from_input) {
  if (n.opset < 5) {
    if (!n.has_attr("shape")) throw Error(n.describe() + ": attribute 'shape' is required");
    return n.attr_ints("shape");
  }
  return *from_input;
}

void add_reshape(OpRegistry& r) {
  OpSchema s;
  s.op_type = "Reshape";
  s.since_version = 1;
  s.min_inputs = 1;
  s.max_inputs = 2;
  s.infer = [](InferContext& ctx) {
    const ir::Node& n = ctx.node();
    require_movable(ctx, 0);
    bool allowzero = n.opset >= 14 && n.attr_int("allowzero", 0) != 0;
    std::optional<std::vector<int64_t>> target;
    if (n.opset < 5) {
      target = reshape_target(n, nullptr);
    } else {
      if (!ctx.has_input(1)) ctx.fail("input 1 (shape) is required");
      require_index_dtype(ctx, 1, "shape");
      target = constant_ints(ctx, 1, "shape");
    }
    if (target) {
      ctx.set_output(0, ctx.input(0).dtype, reshape_output(n, in_shape(ctx, 0), *target, allowzero));
    } else {
      int64_t len = known_length(ctx, 1);
      ctx.set_output(0, ctx.input(0).dtype, len >= 0 ? unknown_dims(static_cast<size_t>(len)) : ir::Shape::unknown());
    }
  };
  s.compute = [](ComputeContext& ctx) {
    const ir::Node& n = ctx.node();
    bool allowzero = n.opset >= 14 && n.attr_int("allowzero", 0) != 0;
    std::vector<int64_t> from_input;
    if (n.opset >= 5) from_input = input_ints(ctx, 1, "shape");
    std::vector<int64_t> target = reshape_target(n, &from_input);
    ir::Shape out = reshape_output(n, ir::Shape::of(ctx.input(0).shape()), target, allowzero);
    set_view_output(ctx, 0, 0, out.dims);
  };
  r.add(std::move(s));
}

// Flatten: [d0 … d_{axis-1}] and [d_axis … d_{r-1}] each collapse to one dim.
ir::Shape flatten_output(const ir::Node& n, const ir::Shape& in) {
  if (!in.known) return ir::Shape::of({-1, -1});
  int64_t rank = static_cast<int64_t>(in.rank());
  int64_t axis = n.attr_int("axis", 1);
  if (n.opset < 11 && axis < 0) throw Error(n.describe() + ": negative axis needs opset 11 or later");
  if (axis < -rank || axis > rank)
    throw Error(n.describe() + ": axis " + std::to_string(axis) + " is out of range [" + std::to_string(-rank) + ", " +
                std::to_string(rank) + "]");
  if (axis < 0) axis += rank;
  auto part = [&](size_t b, size_t e) -> int64_t {
    for (size_t i = b; i < e; ++i)
      if (in.dims[i] < 0) return -1;
    return product(n, in.dims, b, e);
  };
  return ir::Shape::of({part(0, static_cast<size_t>(axis)), part(static_cast<size_t>(axis), in.rank())});
}

void add_flatten(OpRegistry& r) {
  OpSchema s;
  s.op_type = "Flatten";
  s.since_version = 1;
  s.min_inputs = s.max_inputs = 1;
  s.infer = [](InferContext& ctx) {
    require_movable(ctx, 0);
    ctx.set_output(0, ctx.input(0).dtype, flatten_output(ctx.node(), in_shape(ctx, 0)));
  };
  s.compute = [](ComputeContext& ctx) {
    set_view_output(ctx, 0, 0, flatten_output(ctx.node(), ir::Shape::of(ctx.input(0).shape())).dims);
  };
  r.add(std::move(s));
}

// Squeeze/Unsqueeze axes: an attribute before opset 13, an input from 13 on.
// Returns nullopt when they come from an input whose value is not known.
std::optional<std::vector<int64_t>> axes_of(const InferContext& ctx, bool* given) {
  const ir::Node& n = ctx.node();
  if (n.opset < 13) {
    *given = n.has_attr("axes");
    return n.attr_ints("axes");
  }
  *given = ctx.has_input(1);
  if (!*given) return std::vector<int64_t>{};
  require_index_dtype(ctx, 1, "axes");
  return constant_ints(ctx, 1, "axes");
}

std::vector<int64_t> axes_at_compute(const ComputeContext& ctx, bool* given) {
  const ir::Node& n = ctx.node();
  if (n.opset < 13) {
    *given = n.has_attr("axes");
    return n.attr_ints("axes");
  }
  *given = ctx.has_input(1);
  return input_ints(ctx, 1, "axes");
}

// Squeeze: removes the listed dims (each must be 1), or every dim of size 1.
ir::Shape squeeze_output(const ir::Node& n, const ir::Shape& in, const std::vector<int64_t>& axes, bool given) {
  if (!in.known) return ir::Shape::unknown();
  int64_t rank = static_cast<int64_t>(in.rank());
  std::vector<bool> drop(in.rank(), false);
  if (given) {
    for (int64_t a : normalize_axes(n, axes, rank, "axes")) {
      int64_t d = in.dims[static_cast<size_t>(a)];
      if (d >= 0 && d != 1)
        throw Error(n.describe() + ": cannot squeeze axis " + std::to_string(a) + " of size " + std::to_string(d) +
                    " (input shape " + in.str() + ")");
      drop[static_cast<size_t>(a)] = true;
    }
  } else {
    for (size_t i = 0; i < in.rank(); ++i) {
      if (in.dims[i] < 0) return ir::Shape::unknown();  // might be 1: the rank is unknown
      drop[i] = in.dims[i] == 1;
    }
  }
  std::vector<int64_t> out;
  for (size_t i = 0; i < in.rank(); ++i)
    if (!drop[i]) out.push_back(in.dims[i]);
  return ir::Shape::of(out);
}

void add_squeeze(OpRegistry& r) {
  OpSchema s;
  s.op_type = "Squeeze";
  s.since_version = 1;
  s.min_inputs = 1;
  s.max_inputs = 2;
  s.infer = [](InferContext& ctx) {
    require_movable(ctx, 0);
    if (ctx.node().opset < 13 && ctx.num_inputs() > 1) ctx.fail("takes one input before opset 13");
    bool given = false;
    auto axes = axes_of(ctx, &given);
    if (!axes) {
      int64_t len = known_length(ctx, 1);
      const ir::Shape& in = in_shape(ctx, 0);
      bool rank_known = in.known && len >= 0;
      ctx.set_output(0, ctx.input(0).dtype,
                     rank_known ? unknown_dims(in.rank() - static_cast<size_t>(std::min<int64_t>(len, in.rank())))
                                : ir::Shape::unknown());
      return;
    }
    ctx.set_output(0, ctx.input(0).dtype, squeeze_output(ctx.node(), in_shape(ctx, 0), *axes, given));
  };
  s.compute = [](ComputeContext& ctx) {
    bool given = false;
    auto axes = axes_at_compute(ctx, &given);
    set_view_output(ctx, 0, 0, squeeze_output(ctx.node(), ir::Shape::of(ctx.input(0).shape()), axes, given).dims);
  };
  r.add(std::move(s));
}

// Unsqueeze: inserts dims of size 1 at the listed positions of the output.
ir::Shape unsqueeze_output(const ir::Node& n, const ir::Shape& in, const std::vector<int64_t>& axes) {
  if (!in.known) return ir::Shape::unknown();
  int64_t out_rank = static_cast<int64_t>(in.rank() + axes.size());
  std::vector<bool> inserted(static_cast<size_t>(out_rank), false);
  for (int64_t a : normalize_axes(n, axes, out_rank, "axes")) inserted[static_cast<size_t>(a)] = true;
  std::vector<int64_t> out;
  size_t k = 0;
  for (int64_t i = 0; i < out_rank; ++i) out.push_back(inserted[static_cast<size_t>(i)] ? 1 : in.dims[k++]);
  return ir::Shape::of(out);
}

void add_unsqueeze(OpRegistry& r) {
  OpSchema s;
  s.op_type = "Unsqueeze";
  s.since_version = 1;
  s.min_inputs = 1;
  s.max_inputs = 2;
  s.infer = [](InferContext& ctx) {
    const ir::Node& n = ctx.node();
    require_movable(ctx, 0);
    if (n.opset < 13 && ctx.num_inputs() > 1) ctx.fail("takes one input before opset 13");
    if (n.opset < 13 && !n.has_attr("axes")) ctx.fail("attribute 'axes' is required");
    if (n.opset >= 13 && !ctx.has_input(1)) ctx.fail("input 1 (axes) is required");
    bool given = false;
    auto axes = axes_of(ctx, &given);
    if (!axes) {
      int64_t len = known_length(ctx, 1);
      const ir::Shape& in = in_shape(ctx, 0);
      ctx.set_output(0, ctx.input(0).dtype,
                     in.known && len >= 0 ? unknown_dims(in.rank() + static_cast<size_t>(len)) : ir::Shape::unknown());
      return;
    }
    ctx.set_output(0, ctx.input(0).dtype, unsqueeze_output(n, in_shape(ctx, 0), *axes));
  };
  s.compute = [](ComputeContext& ctx) {
    bool given = false;
    auto axes = axes_at_compute(ctx, &given);
    set_view_output(ctx, 0, 0, unsqueeze_output(ctx.node(), ir::Shape::of(ctx.input(0).shape()), axes).dims);
  };
  r.add(std::move(s));
}

}  // namespace

void register_reshape_ops(OpRegistry& r) {
  add_reshape(r);
  add_flatten(r);
  add_squeeze(r);
  add_unsqueeze(r);
}

}  // namespace kiln::ops::shape_detail
