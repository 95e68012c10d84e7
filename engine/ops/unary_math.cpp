// Unary math: Sqrt, Exp, Log, Neg, Abs, Reciprocal, Floor, Ceil — y = f(x)
// elementwise with IEEE semantics (sqrt(-1) = NaN, log(0) = -inf, 1/0 = inf).
// Integer Neg and Abs wrap: -INT_MIN = |INT_MIN| = INT_MIN.
#include "ops/elementwise_internal.h"

namespace kiln::ops::elementwise {

namespace {

// -x in wrapping arithmetic for integers.
template <class T>
T negate(T x) {
  if constexpr (std::is_integral_v<T>) return static_cast<T>(wrap_t<T>(0) - static_cast<wrap_t<T>>(x));
  else return -x;
}

}  // namespace

void register_unary_math(OpRegistry& r) {
  add_unary<false>(r, "Sqrt", 1, 1000, kFloats, plain([](auto x) { return std::sqrt(x); }));
  add_unary<false>(r, "Exp", 1, 1000, kFloats, plain([](auto x) { return std::exp(x); }), kGrainCostly);
  add_unary<false>(r, "Log", 1, 1000, kFloats, plain([](auto x) { return std::log(x); }), kGrainCostly);
  add_unary<false>(r, "Reciprocal", 1, 1000, kFloats, plain([](auto x) { return decltype(x)(1) / x; }));
  add_unary<false>(r, "Floor", 1, 1000, kFloats, plain([](auto x) { return std::floor(x); }));
  add_unary<false>(r, "Ceil", 1, 1000, kFloats, plain([](auto x) { return std::ceil(x); }));

  // Neg: floats in opset 1, signed integers from 6.
  auto neg = plain([](auto x) { return negate(x); });
  add_unary<false>(r, "Neg", 1, 5, kFloats, neg);
  add_unary<true>(r, "Neg", 6, 1000, kFloats + kSigned, neg);

  // Abs: floats in opset 1, every integer type from 6.
  auto abs = plain([](auto x) {
    using T = decltype(x);
    if constexpr (std::is_unsigned_v<T>) return x;
    else if constexpr (std::is_integral_v<T>) return x < 0 ? negate(x) : x;
    else return std::fabs(x);
  });
  add_unary<false>(r, "Abs", 1, 5, kFloats, abs);
  add_unary<true>(r, "Abs", 6, 1000, kNumeric, abs);
}

}  // namespace kiln::ops::elementwise
