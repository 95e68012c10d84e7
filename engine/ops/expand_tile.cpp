// Expand broadcasts the input to a shape (numpy rules, both ways); Tile repeats
// it whole along each axis. Both are strided copies with stride 0 where
// elements repeat.
#include "kernels/reference/copy.h"
#include "ops/shape_ops_internal.h"

namespace kiln::ops::shape_detail {

namespace {

void add_expand(OpRegistry& r) {
  OpSchema s;
  s.op_type = "Expand";
  s.since_version = 8;
  s.min_inputs = s.max_inputs = 2;
  s.infer = [](InferContext& ctx) {
    require_movable(ctx, 0);
    require_index_dtype(ctx, 1, "shape");
    DType t = ctx.input(0).dtype;
    const ir::Shape& in = in_shape(ctx, 0);
    if (auto target = constant_ints(ctx, 1, "shape")) {
      for (int64_t d : *target)
        if (d < 0) ctx.fail("shape " + shape_to_string(*target) + " has a negative dimension");
      ctx.set_output(0, t, broadcast_shapes(ctx, in, known(*target)));
      return;
    }
    int64_t len = known_length(ctx, 1);
    if (!in.known || len < 0) {
      ctx.set_output(0, t, ir::Shape::unknown());
      return;
    }
    ctx.set_output(0, t, unknown_dims(std::max<size_t>(in.rank(), static_cast<size_t>(len))));
  };
  s.compute = [](ComputeContext& ctx) {
    const Tensor& x = ctx.input(0);
    std::vector<int64_t> target = input_ints(ctx, 1, "shape");
    for (int64_t d : target)
      if (d < 0) ctx.fail("shape " + shape_to_string(target) + " has a negative dimension");
    std::vector<int64_t> out = broadcast_dims(ctx, x.shape(), target);
    Tensor& y = ctx.allocate_output(0, x.dtype(), out);
    if (y.numel() > 0)
      kernels::ref::copy_strided(x.data(), y.data(), dtype_size(x.dtype()), out, broadcast_strides(x.shape(), out), 0);
  };
  r.add(std::move(s));
}

// Repeats per axis: the `repeats` input (opset 6+), or for Tile-1 the scalar
// inputs tiles and axis (tiles copies along one axis).
std::vector<int64_t> tile_repeats(const ir::Node& n, size_t rank, const std::vector<int64_t>& in1,
                                  const std::vector<int64_t>& in2) {
  std::vector<int64_t> reps;
  if (n.opset < 6) {
    if (in1.size() != 1 || in2.size() != 1) throw Error(n.describe() + ": tiles and axis must be scalars");
    reps.assign(rank, 1);
    reps[static_cast<size_t>(normalize_axis(in2[0], static_cast<int64_t>(rank), n))] = in1[0];
  } else {
    reps = in1;
    if (reps.size() != rank)
      throw Error(n.describe() + ": repeats has " + std::to_string(reps.size()) + " entries but the input has rank " +
                  std::to_string(rank));
  }
  for (int64_t v : reps)
    if (v < 0) throw Error(n.describe() + ": repeats " + shape_to_string(reps) + " has a negative entry");
  return reps;
}

void add_tile(OpRegistry& r) {
  OpSchema s;
  s.op_type = "Tile";
  s.since_version = 1;
  s.min_inputs = 2;
  s.max_inputs = 3;
  s.infer = [](InferContext& ctx) {
    const ir::Node& n = ctx.node();
    require_movable(ctx, 0);
    if (n.opset >= 6 && ctx.num_inputs() != 2) ctx.fail("takes two inputs from opset 6 on");
    if (n.opset < 6 && ctx.num_inputs() != 3) ctx.fail("takes three inputs (input, tiles, axis) before opset 6");
    require_index_dtype(ctx, 1, n.opset < 6 ? "tiles" : "repeats");
    if (n.opset < 6) require_index_dtype(ctx, 2, "axis");
    DType t = ctx.input(0).dtype;
    const ir::Shape& in = in_shape(ctx, 0);
    if (!in.known) {
      ctx.set_output(0, t, ir::Shape::unknown());
      return;
    }
    auto a = constant_ints(ctx, 1, "repeats");
    auto b = n.opset < 6 ? constant_ints(ctx, 2, "axis") : std::optional<std::vector<int64_t>>(std::vector<int64_t>{});
    if (!a || !b) {
      ctx.set_output(0, t, unknown_dims(in.rank()));
      return;
    }
    std::vector<int64_t> reps = tile_repeats(n, in.rank(), *a, *b), out = in.dims;
    for (size_t d = 0; d < out.size(); ++d)
      if (out[d] >= 0) out[d] = dim_mul(out[d], reps[d], n);
      else if (reps[d] == 0) out[d] = 0;
    ctx.set_output(0, t, known(out));
  };
  s.compute = [](ComputeContext& ctx) {
    const ir::Node& n = ctx.node();
    const Tensor& x = ctx.input(0);
    const auto& dims = x.shape();
    std::vector<int64_t> reps = tile_repeats(n, dims.size(), input_ints(ctx, 1, "repeats"),
                                             n.opset < 6 ? input_ints(ctx, 2, "axis") : std::vector<int64_t>{});
    std::vector<int64_t> out(dims.size());
    for (size_t d = 0; d < dims.size(); ++d) out[d] = dim_mul(dims[d], reps[d], n);
    Tensor& y = ctx.allocate_output(0, x.dtype(), out);
    if (y.numel() == 0) return;
    // The output read as [reps_0, dims_0, reps_1, dims_1, …] is row-major
    // identical to [reps_0·dims_0, …]; the repeat dims have input stride 0.
    std::vector<int64_t> view, strides, in_strides(dims.size(), 1);
    for (size_t d = dims.size(); d-- > 1;) in_strides[d - 1] = in_strides[d] * dims[d];
    for (size_t d = 0; d < dims.size(); ++d) {
      view.push_back(reps[d]);
      strides.push_back(0);
      view.push_back(dims[d]);
      strides.push_back(in_strides[d]);
    }
    kernels::ref::copy_strided(x.data(), y.data(), dtype_size(x.dtype()), view, strides, 0);
  };
  r.add(std::move(s));
}

}  // namespace

void register_expand_tile_ops(OpRegistry& r) {
  add_expand(r);
  add_tile(r);
}

}  // namespace kiln::ops::shape_detail
