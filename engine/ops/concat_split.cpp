// Concat joins tensors along one axis; Split cuts one tensor along an axis.
// Viewing a tensor as [outer, axis_dim · inner], both are block copies.
#include <algorithm>
#include <cstring>
#include <vector>

#include "ops/shape_ops_internal.h"
#include "runtime/parallel.h"

namespace kiln::ops::shape_detail {

namespace {

int64_t concat_axis(const ir::Node& n, int64_t rank) {
  if (n.opset >= 4 && !n.has_attr("axis")) throw Error(n.describe() + ": attribute 'axis' is required");
  int64_t axis = n.attr_int("axis", 1);  // opset 1-3 default
  if (n.opset < 11 && axis < 0) throw Error(n.describe() + ": negative axis needs opset 11 or later");
  return normalize_axis(axis, rank, n, "axis");
}

void add_concat(OpRegistry& r) {
  OpSchema s;
  s.op_type = "Concat";
  s.since_version = 1;
  s.min_inputs = 1;
  s.max_inputs = 1 << 30;
  s.infer = [](InferContext& ctx) {
    for (size_t i = 0; i < ctx.num_inputs(); ++i) {
      if (!ctx.has_input(i)) ctx.fail("input " + std::to_string(i) + " is empty");
      require_movable(ctx, i);
      require_same_dtype(ctx, 0, i);
    }
    DType t = ctx.input(0).dtype;
    const ir::Shape* ref = nullptr;
    for (size_t i = 0; i < ctx.num_inputs(); ++i)
      if (in_shape(ctx, i).known) ref = ref ? ref : &in_shape(ctx, i);
    if (!ref) {
      ctx.set_output(0, t, ir::Shape::unknown());
      return;
    }
    int64_t rank = static_cast<int64_t>(ref->rank());
    if (rank == 0) ctx.fail("cannot concatenate scalars");
    size_t axis = static_cast<size_t>(concat_axis(ctx.node(), rank));
    std::vector<int64_t> out(ref->rank(), -1);
    out[axis] = 0;
    for (size_t i = 0; i < ctx.num_inputs(); ++i) {
      const ir::Shape& s = in_shape(ctx, i);
      if (!s.known) {
        out[axis] = -1;
        continue;
      }
      if (s.rank() != ref->rank())
        ctx.fail("input " + std::to_string(i) + " has shape " + s.str() + " but input 0's rank is " +
                 std::to_string(ref->rank()));
      for (size_t d = 0; d < s.rank(); ++d) {
        if (d == axis) {
          out[d] = (out[d] < 0 || s.dims[d] < 0) ? -1 : dim_add(out[d], s.dims[d], ctx.node());
        } else if (s.dims[d] >= 0) {
          if (out[d] >= 0 && out[d] != s.dims[d])
            ctx.fail("inputs differ in dim " + std::to_string(d) + " (" + std::to_string(out[d]) + " vs " +
                     std::to_string(s.dims[d]) + "), which is not the concat axis");
          out[d] = s.dims[d];
        }
      }
    }
    ctx.set_output(0, t, known(out));
  };
  s.compute = [](ComputeContext& ctx) {
    const Tensor& x0 = ctx.input(0);
    const size_t rank = x0.rank();
    if (rank == 0) ctx.fail("cannot concatenate scalars");
    const size_t axis = static_cast<size_t>(concat_axis(ctx.node(), static_cast<int64_t>(rank)));
    std::vector<int64_t> out = x0.shape();
    out[axis] = 0;
    for (size_t i = 0; i < ctx.num_inputs(); ++i) {
      const auto& s = ctx.input(i).shape();
      bool ok = s.size() == rank;
      for (size_t d = 0; ok && d < rank; ++d) ok = d == axis || s[d] == x0.shape()[d];
      if (!ok)
        ctx.fail("input " + std::to_string(i) + " has shape " + shape_to_string(s) + ", incompatible with input 0's " +
                 shape_to_string(x0.shape()) + " for concatenation on axis " + std::to_string(axis));
      out[axis] = dim_add(out[axis], s[axis], ctx.node());
    }
    Tensor& y = ctx.allocate_output(0, x0.dtype(), out);
    const size_t es = dtype_size(x0.dtype());
    int64_t outer = 1, inner = 1;
    for (size_t d = 0; d < axis; ++d) outer *= out[d];
    for (size_t d = axis + 1; d < rank; ++d) inner *= out[d];
    const size_t out_row = static_cast<size_t>(out[axis] * inner) * es;
    char* dst = static_cast<char*>(y.data());
    // Each input's data and byte offset inside an output row (a per-thread
    // buffer that grows once: no allocation per run).
    const int64_t k = static_cast<int64_t>(ctx.num_inputs());
    struct Part {
      const char* src;
      size_t col, row;
    };
    thread_local std::vector<Part> parts;
    parts.resize(static_cast<size_t>(k));
    for (size_t i = 0, col = 0; i < parts.size(); ++i) {
      const Tensor& x = ctx.input(i);
      const size_t row = static_cast<size_t>(x.shape()[axis] * inner) * es;
      parts[i] = {static_cast<const char*>(x.data()), col, row};
      col += row;
    }
    const Part* part = parts.data();
    // One copy per (outer index, input), in parallel once they add up to a
    // few hundred KiB (tasks of at least ~128 KiB).
    const int64_t avg = static_cast<int64_t>(out_row) / k;
    const int64_t grain = std::max<int64_t>(1, (int64_t{128} << 10) / std::max<int64_t>(avg, 1));
    runtime::parallel_for(outer * k, grain, [&](int64_t b, int64_t e) {
      for (int64_t t = b; t < e; ++t) {
        const Part& q = part[t % k];
        const int64_t o = t / k;
        // An input its producer already wrote in place (the memory plan can
        // put a concat input inside the output) is not copied onto itself.
        char* to = dst + o * out_row + q.col;
        const char* from = q.src + o * q.row;
        if (q.row && to != from) std::memcpy(to, from, q.row);
      }
    });
  };
  r.add(std::move(s));
}

int64_t split_axis(const ir::Node& n, int64_t rank) {
  int64_t axis = n.attr_int("axis", 0);
  if (n.opset < 11 && axis < 0) throw Error(n.describe() + ": negative axis needs opset 11 or later");
  return normalize_axis(axis, rank, n, "axis");
}

// Sizes of the parts along the axis (dim may be -1: unknown). Explicit sizes
// must add up to dim; otherwise the dim is cut into num_outputs parts — equal
// before opset 18, ceil(dim / n) each with a smaller last part from 18 on.
std::vector<int64_t> split_sizes(const ir::Node& n, int64_t dim, size_t num_outputs, const std::vector<int64_t>* split) {
  if (split) {
    if (split->size() != num_outputs)
      throw Error(n.describe() + ": split has " + std::to_string(split->size()) + " entries but the node has " +
                  std::to_string(num_outputs) + " outputs");
    int64_t sum = 0;
    for (int64_t v : *split) {
      if (v < 0) throw Error(n.describe() + ": split " + shape_to_string(*split) + " has a negative entry");
      sum = dim_add(sum, v, n);
    }
    if (dim >= 0 && sum != dim)
      throw Error(n.describe() + ": split " + shape_to_string(*split) + " sums to " + std::to_string(sum) +
                  " but the axis has size " + std::to_string(dim));
    return *split;
  }
  if (n.opset >= 18 && n.has_attr("num_outputs")) {
    int64_t k = n.attr_int("num_outputs", 0);
    if (k < 1 || static_cast<size_t>(k) != num_outputs)
      throw Error(n.describe() + ": num_outputs is " + std::to_string(k) + " but the node has " +
                  std::to_string(num_outputs) + " outputs");
  }
  const int64_t k = static_cast<int64_t>(num_outputs);
  if (dim < 0) return std::vector<int64_t>(num_outputs, -1);
  if (n.opset < 18) {
    if (dim % k != 0)
      throw Error(n.describe() + ": axis of size " + std::to_string(dim) + " cannot be split into " + std::to_string(k) +
                  " equal parts");
    return std::vector<int64_t>(num_outputs, dim / k);
  }
  int64_t chunk = (dim + k - 1) / k;
  std::vector<int64_t> sizes;
  int64_t left = dim;
  for (int64_t i = 0; i < k; ++i) {
    sizes.push_back(std::min(chunk, left));
    left -= sizes.back();
  }
  if (chunk * (k - 1) >= dim && dim > 0)
    throw Error(n.describe() + ": axis of size " + std::to_string(dim) + " cannot be split into " + std::to_string(k) +
                " non-empty parts of size " + std::to_string(chunk));
  return sizes;
}

// Where the split sizes come from: the attribute (opset 1-12; opset 1 also
// accepts an input), or the optional second input (13+).
bool split_from_input(const ir::Node& n) { return n.opset >= 13 || (n.opset < 2 && n.has_input(1)); }

void add_split(OpRegistry& r) {
  OpSchema s;
  s.op_type = "Split";
  s.since_version = 1;
  s.min_inputs = 1;
  s.max_inputs = 2;
  s.min_outputs = 1;
  s.max_outputs = 1 << 30;
  s.infer = [](InferContext& ctx) {
    const ir::Node& n = ctx.node();
    require_movable(ctx, 0);
    if (n.opset >= 2 && n.opset < 13 && ctx.num_inputs() > 1) ctx.fail("takes one input at opset 2-12");
    if (n.opset >= 18 && n.has_attr("num_outputs") && ctx.has_input(1))
      ctx.fail("both the split input and num_outputs are given");
    DType t = ctx.input(0).dtype;
    const ir::Shape& in = in_shape(ctx, 0);
    const size_t k = ctx.num_outputs();
    if (!in.known) {
      for (size_t i = 0; i < k; ++i) ctx.set_output(i, t, ir::Shape::unknown());
      return;
    }
    size_t axis = static_cast<size_t>(split_axis(n, static_cast<int64_t>(in.rank())));
    std::optional<std::vector<int64_t>> split;
    bool split_unknown = false;
    if (split_from_input(n)) {
      if (ctx.has_input(1)) {
        require_index_dtype(ctx, 1, "split");
        split = constant_ints(ctx, 1, "split");
        split_unknown = !split;
      }
    } else if (n.has_attr("split")) {
      split = n.attr_ints("split");
    }
    std::vector<int64_t> sizes = split_unknown ? std::vector<int64_t>(k, -1)
                                               : split_sizes(n, in.dims[axis], k, split ? &*split : nullptr);
    for (size_t i = 0; i < k; ++i) {
      std::vector<int64_t> d = in.dims;
      d[axis] = sizes[i];
      ctx.set_output(i, t, known(d));
    }
  };
  s.compute = [](ComputeContext& ctx) {
    const ir::Node& n = ctx.node();
    const Tensor& x = ctx.input(0);
    const size_t rank = x.rank();
    const size_t axis = static_cast<size_t>(split_axis(n, static_cast<int64_t>(rank)));
    std::vector<int64_t> split;
    bool has_split = false;
    if (split_from_input(n)) {
      has_split = ctx.has_input(1);
      if (has_split) split = input_ints(ctx, 1, "split");
    } else if (n.has_attr("split")) {
      has_split = true;
      split = n.attr_ints("split");
    }
    std::vector<int64_t> sizes = split_sizes(n, x.shape()[axis], ctx.num_outputs(), has_split ? &split : nullptr);
    const size_t es = dtype_size(x.dtype());
    int64_t outer = 1, inner = 1;
    for (size_t d = 0; d < axis; ++d) outer *= x.shape()[d];
    for (size_t d = axis + 1; d < rank; ++d) inner *= x.shape()[d];
    const size_t in_row = static_cast<size_t>(x.shape()[axis] * inner) * es;
    const char* src = static_cast<const char*>(x.data());
    size_t col = 0;
    for (size_t i = 0; i < ctx.num_outputs(); ++i) {
      const size_t row = static_cast<size_t>(sizes[i] * inner) * es;
      if (ctx.output_wanted(i)) {
        std::vector<int64_t> d = x.shape();
        d[axis] = sizes[i];
        char* dst = static_cast<char*>(ctx.allocate_output(i, x.dtype(), d).data());
        if (row)
          for (int64_t o = 0; o < outer; ++o) std::memcpy(dst + o * row, src + o * in_row + col, row);
      }
      col += row;
    }
  };
  r.add(std::move(s));
}

}  // namespace

void register_concat_split_ops(OpRegistry& r) {
  add_concat(r);
  add_split(r);
}

}  // namespace kiln::ops::shape_detail
