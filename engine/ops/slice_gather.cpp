// Slice picks a strided sub-box of the input; Gather picks whole slices along
// one axis by index.
#include <algorithm>
#include <cstring>
#include <limits>

#include "kernels/reference/copy.h"
#include "ops/shape_ops_internal.h"

namespace kiln::ops::shape_detail {

namespace {

// One sliced axis after clamping: the output takes `count` elements starting
// at `start` with stride `step`.
struct AxisSlice {
  int64_t start = 0, step = 1, count = 0;
};

// ONNX's clamping rules: negative start/end count from the end; then for
// step > 0 start and end clamp to [0, dim], for step < 0 start clamps to
// [0, dim-1] and end to [-1, dim-1].
AxisSlice clamp_slice(int64_t start, int64_t end, int64_t step, int64_t dim) {
  AxisSlice a;
  a.step = step;
  if (dim == 0) return a;
  if (start < 0) start += dim;
  if (end < 0) end += dim;
  // count = ceil(distance / |step|), written so that huge steps cannot overflow.
  if (step > 0) {
    start = std::clamp<int64_t>(start, 0, dim);
    end = std::clamp<int64_t>(end, 0, dim);
    a.count = end > start ? 1 + (end - start - 1) / step : 0;
  } else {
    start = std::clamp<int64_t>(start, 0, dim - 1);
    end = std::clamp<int64_t>(end, -1, dim - 1);
    int64_t back = step == std::numeric_limits<int64_t>::min() ? std::numeric_limits<int64_t>::max() : -step;
    a.count = start > end ? 1 + (start - end - 1) / back : 0;
  }
  a.start = start;
  return a;
}

struct SliceParams {
  std::vector<int64_t> starts, ends, axes, steps;
};

// Checks lengths and fills default axes/steps; axes normalized for `rank`.
void complete_params(const ir::Node& n, SliceParams& p, int64_t rank) {
  if (p.starts.size() != p.ends.size())
    throw Error(n.describe() + ": starts has " + std::to_string(p.starts.size()) + " entries but ends has " +
                std::to_string(p.ends.size()));
  const size_t k = p.starts.size();
  if (p.axes.empty()) {
    if (static_cast<int64_t>(k) > rank)
      throw Error(n.describe() + ": starts has " + std::to_string(k) + " entries but the input has rank " + std::to_string(rank));
    for (size_t i = 0; i < k; ++i) p.axes.push_back(static_cast<int64_t>(i));
  }
  if (p.steps.empty()) p.steps.assign(k, 1);
  if (p.axes.size() != k || p.steps.size() != k)
    throw Error(n.describe() + ": starts, ends, axes and steps must have the same length");
  p.axes = normalize_axes(n, p.axes, rank, "axes");
  for (int64_t s : p.steps)
    if (s == 0) throw Error(n.describe() + ": steps must not be 0");
}

void add_slice(OpRegistry& r) {
  OpSchema s;
  s.op_type = "Slice";
  s.since_version = 1;
  s.min_inputs = 1;
  s.max_inputs = 5;
  s.infer = [](InferContext& ctx) {
    const ir::Node& n = ctx.node();
    require_movable(ctx, 0);
    DType t = ctx.input(0).dtype;
    const ir::Shape& in = in_shape(ctx, 0);
    SliceParams p;
    if (n.opset < 10) {
      if (ctx.num_inputs() > 1) ctx.fail("takes one input before opset 10");
      if (!n.has_attr("starts") || !n.has_attr("ends")) ctx.fail("attributes 'starts' and 'ends' are required");
      p = {n.attr_ints("starts"), n.attr_ints("ends"), n.attr_ints("axes"), {}};
    } else {
      if (ctx.num_inputs() < 3 || !ctx.has_input(1) || !ctx.has_input(2)) ctx.fail("inputs starts and ends are required");
      for (size_t i = 1; i < ctx.num_inputs(); ++i)
        if (ctx.has_input(i)) require_index_dtype(ctx, i, i == 1 ? "starts" : i == 2 ? "ends" : i == 3 ? "axes" : "steps", true);
      auto starts = constant_ints(ctx, 1, "starts"), ends = constant_ints(ctx, 2, "ends");
      auto axes = ctx.has_input(3) ? constant_ints(ctx, 3, "axes") : std::vector<int64_t>{};
      auto steps = ctx.has_input(4) ? constant_ints(ctx, 4, "steps") : std::vector<int64_t>{};
      if (!in.known) {
        ctx.set_output(0, t, ir::Shape::unknown());
        return;
      }
      if (!starts || !ends || !axes || !steps) {
        // Values unknown: the rank stays; the dims that may be sliced become unknown.
        std::vector<int64_t> out = in.dims;
        if (!axes) {
          out = std::vector<int64_t>(in.rank(), -1);
        } else if (!axes->empty()) {
          for (int64_t a : normalize_axes(n, *axes, static_cast<int64_t>(in.rank()), "axes"))
            out[static_cast<size_t>(a)] = -1;
        } else {
          int64_t k = known_length(ctx, 1);
          for (size_t d = 0; d < out.size(); ++d)
            if (k < 0 || static_cast<int64_t>(d) < k) out[d] = -1;
        }
        ctx.set_output(0, t, known(out));
        return;
      }
      p = {*starts, *ends, *axes, *steps};
    }
    if (!in.known) {
      ctx.set_output(0, t, ir::Shape::unknown());
      return;
    }
    complete_params(n, p, static_cast<int64_t>(in.rank()));
    std::vector<int64_t> out = in.dims;
    for (size_t i = 0; i < p.axes.size(); ++i) {
      size_t a = static_cast<size_t>(p.axes[i]);
      if (in.dims[a] >= 0) out[a] = clamp_slice(p.starts[i], p.ends[i], p.steps[i], in.dims[a]).count;
    }
    ctx.set_output(0, t, known(out));
  };
  s.compute = [](ComputeContext& ctx) {
    const ir::Node& n = ctx.node();
    const Tensor& x = ctx.input(0);
    const auto& dims = x.shape();
    SliceParams p;
    if (n.opset < 10) {
      p = {n.attr_ints("starts"), n.attr_ints("ends"), n.attr_ints("axes"), {}};
    } else {
      p = {input_ints(ctx, 1, "starts"), input_ints(ctx, 2, "ends"), input_ints(ctx, 3, "axes"),
           input_ints(ctx, 4, "steps")};
    }
    complete_params(n, p, static_cast<int64_t>(dims.size()));
    std::vector<int64_t> out = dims, strides(dims.size(), 1);
    for (size_t d = dims.size(); d-- > 1;) strides[d - 1] = strides[d] * dims[d];
    int64_t offset = 0;
    for (size_t i = 0; i < p.axes.size(); ++i) {
      size_t a = static_cast<size_t>(p.axes[i]);
      AxisSlice sl = clamp_slice(p.starts[i], p.ends[i], p.steps[i], dims[a]);
      out[a] = sl.count;
      if (sl.count > 0) offset += sl.start * strides[a];
      strides[a] = sl.count > 1 ? strides[a] * sl.step : 0;
    }
    // A contiguous run of the input (e.g. a channel range of one image)
    // becomes a view of it, as Reshape's output does (set_view_output).
    bool contiguous = true;
    int64_t expected = 1;
    for (size_t d = out.size(); d-- > 0 && contiguous;) {
      if (out[d] <= 1) continue;
      contiguous = strides[d] == expected;
      expected *= out[d];
    }
    if (contiguous && dtype_size(x.dtype()) > 0 && checked_numel(out) > 0) {
      set_view_output(ctx, 0, 0, out, offset);
      return;
    }
    Tensor& y = ctx.allocate_output(0, x.dtype(), out);
    if (y.numel() > 0) kernels::ref::copy_strided(x.data(), y.data(), dtype_size(x.dtype()), out, strides, offset);
  };
  r.add(std::move(s));
}

// Gather on axis a: y[i_<a, j…, i_>a] = x[i_<a, indices[j…], i_>a]; negative
// indices count from the end of the axis.
void add_gather(OpRegistry& r) {
  OpSchema s;
  s.op_type = "Gather";
  s.since_version = 1;
  s.min_inputs = s.max_inputs = 2;
  s.infer = [](InferContext& ctx) {
    const ir::Node& n = ctx.node();
    require_movable(ctx, 0);
    require_index_dtype(ctx, 1, "indices", true);
    DType t = ctx.input(0).dtype;
    const ir::Shape& in = in_shape(ctx, 0);
    const ir::Shape& idx = in_shape(ctx, 1);
    if (!in.known) {
      ctx.set_output(0, t, ir::Shape::unknown());
      return;
    }
    if (in.rank() == 0) ctx.fail("cannot gather from a scalar");
    size_t axis = static_cast<size_t>(normalize_axis(n.attr_int("axis", 0), static_cast<int64_t>(in.rank()), n));
    if (!idx.known) {
      ctx.set_output(0, t, ir::Shape::unknown());
      return;
    }
    if (const Tensor* c = ctx.input(1).constant; c && in.dims[axis] >= 0) {
      std::vector<int64_t> v = c->rank() <= 1 ? to_int64s(*c, n, "indices") : std::vector<int64_t>{};
      for (int64_t i : v)
        if (i < -in.dims[axis] || i >= in.dims[axis])
          ctx.fail("index " + std::to_string(i) + " is out of range for axis " + std::to_string(axis) + " of size " +
                   std::to_string(in.dims[axis]));
    }
    std::vector<int64_t> out(in.dims.begin(), in.dims.begin() + static_cast<int64_t>(axis));
    out.insert(out.end(), idx.dims.begin(), idx.dims.end());
    out.insert(out.end(), in.dims.begin() + static_cast<int64_t>(axis) + 1, in.dims.end());
    ctx.set_output(0, t, known(out));
  };
  s.compute = [](ComputeContext& ctx) {
    const ir::Node& n = ctx.node();
    const Tensor& x = ctx.input(0);
    const Tensor& ind = ctx.input(1);
    const auto& dims = x.shape();
    if (dims.empty()) ctx.fail("cannot gather from a scalar");
    const size_t axis = static_cast<size_t>(normalize_axis(n.attr_int("axis", 0), static_cast<int64_t>(dims.size()), n));
    std::vector<int64_t> out(dims.begin(), dims.begin() + static_cast<int64_t>(axis));
    out.insert(out.end(), ind.shape().begin(), ind.shape().end());
    out.insert(out.end(), dims.begin() + static_cast<int64_t>(axis) + 1, dims.end());
    // Indices as int64 (any rank), each checked and made non-negative.
    const int64_t dim = dims[axis], count = ind.numel();
    std::vector<int64_t> idx(static_cast<size_t>(count));
    for (int64_t k = 0; k < count; ++k) {
      int64_t i = ind.dtype() == DType::Int64 ? ind.data_as<int64_t>()[k] : ind.data_as<int32_t>()[k];
      if (i < -dim || i >= dim)
        ctx.fail("index " + std::to_string(i) + " is out of range for axis " + std::to_string(axis) + " of size " +
                 std::to_string(dim));
      idx[static_cast<size_t>(k)] = i < 0 ? i + dim : i;
    }
    Tensor& y = ctx.allocate_output(0, x.dtype(), out);
    const size_t es = dtype_size(x.dtype());
    int64_t outer = 1, inner = 1;
    for (size_t d = 0; d < axis; ++d) outer *= dims[d];
    for (size_t d = axis + 1; d < dims.size(); ++d) inner *= dims[d];
    const size_t block = static_cast<size_t>(inner) * es;
    const char* src = static_cast<const char*>(x.data());
    char* dst = static_cast<char*>(y.data());
    if (block == 0) return;
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t k = 0; k < count; ++k, dst += block)
        std::memcpy(dst, src + (o * dim + idx[static_cast<size_t>(k)]) * static_cast<int64_t>(block), block);
  };
  r.add(std::move(s));
}

}  // namespace

void register_slice_gather_ops(OpRegistry& r) {
  add_slice(r);
  add_gather(r);
}

}  // namespace kiln::ops::shape_detail
