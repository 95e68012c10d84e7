// Softmax and LogSoftmax.
//   opset 1–12: the input is coerced to 2-D at `axis` (default 1):
//               [d0 … d(axis−1)] x [d(axis) … d(r−1)], and each row of that
//               matrix is normalized as one vector.
//   opset 13+:  normalized along the single axis `axis` (default −1).
// Both reduce to (log-)softmax over the middle axis of [outer, n, inner]
// (inner = 1 for the old form); see kernels/reference/softmax.h.
#include "ops/softmax.h"

#include <algorithm>
#include <string>

#include "kernels/reference/softmax.h"
#include "kernels/simd/reduce.h"
#include "ops/op_util.h"
#include "runtime/parallel.h"

namespace kiln::ops {

namespace {

struct SoftmaxView {
  int64_t outer = 1, n = 1, inner = 1;
};

template <class Ctx>
SoftmaxView softmax_view(const Ctx& ctx, const std::vector<int64_t>& dims) {
  const ir::Node& node = ctx.node();
  bool coerce_2d = node.opset < 13;
  int64_t rank = static_cast<int64_t>(dims.size());
  int64_t axis = normalize_axis(node.attr_int("axis", coerce_2d ? 1 : -1), rank, node);
  SoftmaxView v;
  for (int64_t i = 0; i < rank; ++i) {
    if (i < axis) v.outer *= dims[i];
    else if (i == axis || coerce_2d) v.n *= dims[i];
    else v.inner *= dims[i];
  }
  return v;
}

void infer_softmax(InferContext& ctx) {
  require_dtype(ctx, 0, {DType::Float32, DType::Float64});
  const ir::Shape& x = in_shape(ctx, 0);
  if (x.known) {
    // Validates axis against the rank; the dims themselves do not matter here.
    int64_t rank = static_cast<int64_t>(x.rank());
    normalize_axis(ctx.node().attr_int("axis", ctx.node().opset < 13 ? 1 : -1), rank, ctx.node());
  }
  ctx.set_output(0, ctx.input(0).dtype, x);
}

void compute_softmax(ComputeContext& ctx, bool log) {
  const Tensor& x = ctx.input(0);
  SoftmaxView v = softmax_view(ctx, x.shape());
  Tensor& y = ctx.allocate_output(0, x.dtype(), x.shape());
  if (x.numel() == 0) return;
  if (x.dtype() == DType::Float32 && v.inner == 1) {
    // Over the last (contiguous) axis: one SIMD row kernel call per row.
    static const std::string name = std::string("softmax_row_f32_") + simd::best_arch_name();
    const float* xp = x.data_as<float>();
    float* yp = y.data_as<float>();
    auto kernel = simd::dispatch(simd::softmax_row_f32{});
    runtime::parallel_for(v.outer, std::max<int64_t>(1, (int64_t{1} << 14) / v.n), [&](int64_t b, int64_t e) {
      for (int64_t o = b; o < e; ++o) kernel(xp + o * v.n, yp + o * v.n, v.n, log);
    });
    ctx.set_kernel(name.c_str());
    return;
  }
  int64_t items = kernels::ref::softmax_items(v.outer, v.inner);
  int64_t per_item = v.n * std::min(v.inner, kernels::ref::kSoftmaxBlock);
  int64_t grain = std::max<int64_t>(1, (int64_t{1} << 14) / per_item);
  auto run = [&](auto tag) {
    using T = decltype(tag);
    runtime::parallel_for(items, grain, [&](int64_t b, int64_t e) {
      kernels::ref::softmax(x.data_as<T>(), y.data_as<T>(), v.outer, v.n, v.inner, log, b, e);
    });
  };
  if (x.dtype() == DType::Float32) run(float{});
  else if (x.dtype() == DType::Float64) run(double{});
  else ctx.fail("dtype " + dtype_name(x.dtype()) + " is not supported here");
}

}  // namespace

void register_softmax_ops(OpRegistry& r) {
  for (bool log : {false, true}) {
    for (auto [since, until] : {std::pair{1, 12}, std::pair{13, 1000}}) {
      OpSchema s;
      s.op_type = log ? "LogSoftmax" : "Softmax";
      s.since_version = since;
      s.until_version = until;
      s.min_inputs = s.max_inputs = 1;
      s.infer = infer_softmax;
      s.compute = [log](ComputeContext& ctx) { compute_softmax(ctx, log); };
      r.add(std::move(s));
    }
  }
}

}  // namespace kiln::ops
