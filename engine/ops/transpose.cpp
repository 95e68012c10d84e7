// Transpose: y[i_0, …, i_{r-1}] = x[j] with j[perm[k]] = i_k, i.e. output dim k
// is input dim perm[k]. Without perm, the dims are reversed.
#include <numeric>

#include "kernels/reference/copy.h"
#include "ops/shape_ops_internal.h"

namespace kiln::ops::shape_detail {

namespace {

std::vector<int64_t> transpose_perm(const ir::Node& n, size_t rank) {
  std::vector<int64_t> perm;
  if (n.has_attr("perm")) {
    perm = n.attr_ints("perm");
    if (perm.size() != rank)
      throw Error(n.describe() + ": perm has " + std::to_string(perm.size()) + " entries but the input has rank " +
                  std::to_string(rank));
    std::vector<bool> seen(rank, false);
    for (int64_t p : perm) {
      if (p < 0 || p >= static_cast<int64_t>(rank) || seen[static_cast<size_t>(p)])
        throw Error(n.describe() + ": perm " + shape_to_string(perm) + " is not a permutation of 0.." +
                    std::to_string(rank - 1));
      seen[static_cast<size_t>(p)] = true;
    }
  } else {
    perm.resize(rank);
    for (size_t i = 0; i < rank; ++i) perm[i] = static_cast<int64_t>(rank - 1 - i);
  }
  return perm;
}

void add_transpose(OpRegistry& r) {
  OpSchema s;
  s.op_type = "Transpose";
  s.since_version = 1;
  s.min_inputs = s.max_inputs = 1;
  s.infer = [](InferContext& ctx) {
    require_movable(ctx, 0);
    const ir::Shape& in = in_shape(ctx, 0);
    if (!in.known) {
      const ir::Node& n = ctx.node();
      ctx.set_output(0, ctx.input(0).dtype,
                     n.has_attr("perm") ? unknown_dims(n.attr_ints("perm").size()) : ir::Shape::unknown());
      return;
    }
    std::vector<int64_t> perm = transpose_perm(ctx.node(), in.rank());
    std::vector<int64_t> out(in.rank());
    for (size_t k = 0; k < perm.size(); ++k) out[k] = in.dims[static_cast<size_t>(perm[k])];
    ctx.set_output(0, ctx.input(0).dtype, known(out));
  };
  s.compute = [](ComputeContext& ctx) {
    const Tensor& x = ctx.input(0);
    const auto& dims = x.shape();
    std::vector<int64_t> perm = transpose_perm(ctx.node(), dims.size());
    std::vector<int64_t> in_strides(dims.size(), 1);
    for (size_t d = dims.size(); d-- > 1;) in_strides[d - 1] = in_strides[d] * dims[d];
    std::vector<int64_t> out(dims.size()), strides(dims.size());
    for (size_t k = 0; k < perm.size(); ++k) {
      out[k] = dims[static_cast<size_t>(perm[k])];
      strides[k] = in_strides[static_cast<size_t>(perm[k])];
    }
    Tensor& y = ctx.allocate_output(0, x.dtype(), out);
    kernels::ref::copy_strided(x.data(), y.data(), dtype_size(x.dtype()), out, strides, 0);
  };
  r.add(std::move(s));
}

}  // namespace

void register_transpose_ops(OpRegistry& r) { add_transpose(r); }

}  // namespace kiln::ops::shape_detail
