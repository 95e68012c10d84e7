// Variadic elementwise: Max, Min, Sum, Mean over 1..N inputs, broadcast
// together (numpy rules from opset 8; before that all shapes must be equal).
// Computed as a left fold y = f(…f(f(x0, x1), x2)…, xN-1); Mean divides the
// sum by N. Max and Min propagate NaN, as numpy's maximum/minimum (the ONNX
// reference) do: if either operand is NaN the result is NaN.
#include <limits>

#include "ops/elementwise_internal.h"

namespace kiln::ops::elementwise {

namespace {

template <class T>
struct MaxOp {
  // a != a holds only for NaN; when b is NaN, a > b is false and b is taken.
  T operator()(T a, T b) const { return (a > b || a != a) ? a : b; }
};

template <class T>
struct MinOp {
  T operator()(T a, T b) const { return (a < b || a != a) ? a : b; }
};

template <class T>
struct SumOp {
  T operator()(T a, T b) const { return a + b; }
};

struct VariadicVersion {
  int since, until;
  bool broadcast;
  DTypes types;
};

template <template <class> class Op>
void add_variadic(OpRegistry& r, const char* name, const std::vector<VariadicVersion>& versions, bool mean) {
  for (const VariadicVersion& v : versions) {
    OpSchema s;
    s.op_type = name;
    s.since_version = v.since;
    s.until_version = v.until;
    s.min_inputs = 1;
    s.max_inputs = std::numeric_limits<int>::max();
    s.infer = [v](InferContext& ctx) {
      for (size_t i = 0; i < ctx.num_inputs(); ++i) {
        if (!ctx.has_input(i)) ctx.fail("input " + std::to_string(i) + " is empty; every input is required");
        check_dtype(ctx, i, v.types);
        require_same_dtype(ctx, 0, i);
      }
      if (!v.broadcast)
        for (size_t i = 1; i < ctx.num_inputs(); ++i) {
          const ir::Shape &a = in_shape(ctx, 0), &b = in_shape(ctx, i);
          if (!a.known || !b.known) continue;
          bool same = a.rank() == b.rank();
          for (size_t d = 0; same && d < a.rank(); ++d) same = a.dims[d] < 0 || b.dims[d] < 0 || a.dims[d] == b.dims[d];
          if (!same) ctx.fail("inputs must all have the same shape before opset 8; got " + a.str() + " and " + b.str());
        }
      ctx.set_output(0, ctx.input(0).dtype, broadcast_inputs(ctx));
    };
    s.compute = [broadcast = v.broadcast, mean](ComputeContext& ctx) {
      const size_t n = ctx.num_inputs();
      if (!broadcast)
        for (size_t i = 1; i < n; ++i)
          if (ctx.input(i).shape() != ctx.input(0).shape())
            ctx.fail("inputs must all have the same shape before opset 8; got " +
                     shape_to_string(ctx.input(0).shape()) + " and " + shape_to_string(ctx.input(i).shape()));
      std::vector<int64_t> out = broadcast_inputs(ctx);
      const Tensor& x0 = ctx.input(0);
      Tensor& y = ctx.allocate_output(0, x0.dtype(), out);
      dispatch_numeric(x0.dtype(), ctx, [&](auto tag) {
        using T = decltype(tag);
        T* py = y.data_as<T>();
        if (n == 1) {
          unary_apply(x0.data_as<T>(), py, y.numel(), [](T v) { return v; });
        } else {
          const Tensor& x1 = ctx.input(1);
          binary_apply(x0.data_as<T>(), x0.shape(), x1.data_as<T>(), x1.shape(), py, out, Op<T>{});
          for (size_t i = 2; i < n; ++i) {
            const Tensor& xi = ctx.input(i);
            binary_apply(static_cast<const T*>(py), out, xi.data_as<T>(), xi.shape(), py, out, Op<T>{});
          }
        }
        if (mean) {
          if constexpr (std::is_floating_point_v<T>) {
            const T count = static_cast<T>(n);
            unary_apply(static_cast<const T*>(py), py, y.numel(), [count](T v) { return v / count; });
          }
        }
      });
    };
    r.add(std::move(s));
  }
}

}  // namespace

void register_variadic(OpRegistry& r) {
  const std::vector<VariadicVersion> minmax = {
      {1, 7, false, kFloats}, {8, 11, true, kFloats}, {12, 1000, true, kNumeric}};
  add_variadic<MaxOp>(r, "Max", minmax, false);
  add_variadic<MinOp>(r, "Min", minmax, false);
  const std::vector<VariadicVersion> sum = {{1, 7, false, kFloats}, {8, 1000, true, kFloats}};
  add_variadic<SumOp>(r, "Sum", sum, false);
  add_variadic<SumOp>(r, "Mean", sum, true);
}

}  // namespace kiln::ops::elementwise
