// Elementwise activations. Each is y = f(x) over float tensors; attributes
// (alpha, beta, …) are read once per call.
#include <cmath>

#include "kernels/reference/unary.h"
#include "ops/op_util.h"

namespace kiln::ops {

namespace {

void infer_same_float(InferContext& ctx) {
  require_dtype(ctx, 0, {DType::Float32, DType::Float64});
  ctx.set_output(0, ctx.input(0).dtype, in_shape(ctx, 0));
}

// Registers a float activation y = f(x, node) for opsets [since, until].
template <class MakeFn>
void add_activation(OpRegistry& r, const char* name, int since, int until, MakeFn make) {
  OpSchema s;
  s.op_type = name;
  s.since_version = since;
  s.until_version = until;
  s.min_inputs = s.max_inputs = 1;
  s.infer = infer_same_float;
  s.compute = [make](ComputeContext& ctx) {
    const Tensor& x = ctx.input(0);
    Tensor& y = ctx.allocate_output(0, x.dtype(), x.shape());
    auto f = make(ctx.node());
    if (x.dtype() == DType::Float32)
      kernels::ref::unary_map(x.data_as<float>(), y.data_as<float>(), x.numel(), [&](double v) { return f(v); });
    else
      kernels::ref::unary_map(x.data_as<double>(), y.data_as<double>(), x.numel(), [&](double v) { return f(v); });
  };
  r.add(std::move(s));
}

}  // namespace

void register_activation_ops(OpRegistry& r) {
  // Relu: y = max(0, x)
  add_activation(r, "Relu", 6, 1000, [](const ir::Node&) { return [](double x) { return x > 0 ? x : 0.0; }; });
}

}  // namespace kiln::ops
