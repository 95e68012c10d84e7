// Comparisons and logic: Equal, Less, Greater, LessOrEqual, GreaterOrEqual
// (numeric → bool, IEEE: any comparison with NaN is false except !=), And, Or,
// Xor (bool → bool), Not. Broadcasting as in binary arithmetic: the legacy
// broadcast/axis attributes before opset 7, numpy rules from 7.
#include <functional>

#include "ops/elementwise_internal.h"

namespace kiln::ops::elementwise {

namespace {

struct CompareVersion {
  int since, until;
  bool legacy;
  DTypes types;
};

template <class Op>
void add_compare(OpRegistry& r, const char* name, const std::vector<CompareVersion>& versions) {
  for (const CompareVersion& v : versions) {
    OpSchema s;
    s.op_type = name;
    s.since_version = v.since;
    s.until_version = v.until;
    s.min_inputs = s.max_inputs = 2;
    s.infer = [v](InferContext& ctx) {
      check_dtype(ctx, 0, v.types);
      require_same_dtype(ctx, 0, 1);
      ctx.set_output(0, DType::Bool, v.legacy ? legacy_broadcast_infer(ctx) : broadcast_inputs(ctx));
    };
    s.compute = [legacy = v.legacy](ComputeContext& ctx) {
      BinaryShapes sh = binary_shapes(ctx, legacy);
      const Tensor& a = ctx.input(0);
      const Tensor& b = ctx.input(1);
      Tensor& c = ctx.allocate_output(0, DType::Bool, sh.out);
      dispatch_all(a.dtype(), ctx, [&](auto tag) {
        using T = decltype(tag);
        using S = storage_t<T>;
        // Bool storage is read through T so that any nonzero byte is true.
        binary_apply(a.data_as<S>(), sh.a, b.data_as<S>(), sh.b, c.data_as<uint8_t>(), sh.out,
                     [](S x, S y) -> uint8_t { return Op{}(static_cast<T>(x), static_cast<T>(y)) ? 1 : 0; });
      });
    };
    r.add(std::move(s));
  }
}

struct LogicalXor {
  bool operator()(bool a, bool b) const { return a != b; }
};

}  // namespace

void register_compare(OpRegistry& r) {
  const DTypes eq_old = kBool + DTypes{DType::Int32, DType::Int64};
  add_compare<std::equal_to<>>(r, "Equal", {{1, 6, true, eq_old}, {7, 10, false, eq_old}, {11, 1000, false, kBool + kNumeric}});
  const std::vector<CompareVersion> ordered = {{1, 6, true, kFloats}, {7, 8, false, kFloats}, {9, 1000, false, kNumeric}};
  add_compare<std::less<>>(r, "Less", ordered);
  add_compare<std::greater<>>(r, "Greater", ordered);
  add_compare<std::less_equal<>>(r, "LessOrEqual", {{12, 1000, false, kNumeric}});
  add_compare<std::greater_equal<>>(r, "GreaterOrEqual", {{12, 1000, false, kNumeric}});

  const std::vector<CompareVersion> logical = {{1, 6, true, kBool}, {7, 1000, false, kBool}};
  add_compare<std::logical_and<>>(r, "And", logical);
  add_compare<std::logical_or<>>(r, "Or", logical);
  add_compare<LogicalXor>(r, "Xor", logical);

  OpSchema s;
  s.op_type = "Not";
  s.since_version = 1;
  s.min_inputs = s.max_inputs = 1;
  s.infer = [](InferContext& ctx) {
    check_dtype(ctx, 0, kBool);
    ctx.set_output(0, DType::Bool, in_shape(ctx, 0));
  };
  s.compute = [](ComputeContext& ctx) {
    const Tensor& x = ctx.input(0);
    Tensor& y = ctx.allocate_output(0, DType::Bool, x.shape());
    unary_apply(x.data_as<uint8_t>(), y.data_as<uint8_t>(), x.numel(), [](uint8_t v) -> uint8_t { return v == 0; });
  };
  r.add(std::move(s));
}

}  // namespace kiln::ops::elementwise
