// Binary arithmetic: Add, Sub, Mul, Div, Pow — C = A ∘ B elementwise with
// multidirectional broadcasting (opset >= 7) or the legacy broadcast/axis
// attributes (opset < 7).
//
// Integers: +, -, * wrap around (two's complement, as ONNX Runtime and numpy
// do); Div truncates toward zero (C semantics), division by zero is an error
// and INT_MIN / -1 wraps to INT_MIN. Pow of integers is exact repeated
// multiplication (wrapping); a negative integer exponent gives the truncated
// quotient 1 / a^-b (0 unless |a| = 1), and 0 to a negative power is an error.
#include <atomic>
#include <string>

#include "kernels/simd/binary.h"
#include "ops/elementwise_internal.h"

namespace kiln::ops::elementwise {

namespace {

// float32 c = a ∘ b: the broadcasting walk of binary_apply, each contiguous
// run (inputs at stride 0 or 1 after the plan's merging) by the SIMD kernel.
// Covers same shapes, a scalar side and per-channel operands in long runs.
void binary_f32_simd(ComputeContext& ctx, simd::BinaryOp op, const Tensor& a, const Tensor& b, Tensor& c,
                     const BinaryShapes& sh) {
  static const std::string name = std::string("binary_f32_") + simd::best_arch_name();
  auto plan = kernels::ref::plan_broadcast<2>(sh.out, {broadcast_strides(sh.a, sh.out), broadcast_strides(sh.b, sh.out)});
  const int64_t sa = plan.strides[0].back(), sb = plan.strides[1].back();
  const float* pa = a.data_as<float>();
  const float* pb = b.data_as<float>();
  float* pc = c.data_as<float>();
  if ((sa != 0 && sa != 1) || (sb != 0 && sb != 1)) {  // not expected after merging; the reference walk copes
    binary_apply(pa, sh.a, pb, sh.b, pc, sh.out, [op](float x, float y) {
      return op == simd::BinaryOp::Add ? x + y : op == simd::BinaryOp::Sub ? x - y : op == simd::BinaryOp::Mul ? x * y : x / y;
    });
    return;
  }
  auto kernel = simd::dispatch(simd::binary_f32{});
  runtime::parallel_for(plan.numel, kGrain, [&](int64_t begin, int64_t end) {
    kernels::ref::walk_broadcast(plan, begin, end, [&](int64_t o, const std::array<int64_t, 2>& off, int64_t n) {
      kernel(op, pa + off[0], sa, pb + off[1], sb, pc + o, n);
    });
  });
  ctx.set_kernel(name.c_str());
}

template <class T>
struct AddOp {
  T operator()(T a, T b) const {
    if constexpr (std::is_integral_v<T>) return static_cast<T>(static_cast<wrap_t<T>>(a) + static_cast<wrap_t<T>>(b));
    else return a + b;
  }
};

template <class T>
struct SubOp {
  T operator()(T a, T b) const {
    if constexpr (std::is_integral_v<T>) return static_cast<T>(static_cast<wrap_t<T>>(a) - static_cast<wrap_t<T>>(b));
    else return a - b;
  }
};

template <class T>
struct MulOp {
  T operator()(T a, T b) const {
    if constexpr (std::is_integral_v<T>) return static_cast<T>(static_cast<wrap_t<T>>(a) * static_cast<wrap_t<T>>(b));
    else return a * b;
  }
};

// Division by zero is rejected before the loop; a / -1 is negation (wrapping),
// which avoids the trap of INT_MIN / -1.
template <class T>
struct DivOp {
  T operator()(T a, T b) const {
    if constexpr (std::is_integral_v<T> && std::is_signed_v<T>) {
      if (b == -1) return static_cast<T>(wrap_t<T>(0) - static_cast<wrap_t<T>>(a));
      return static_cast<T>(a / b);
    } else {
      return static_cast<T>(a / b);
    }
  }
};

struct ArithVersion {
  int since, until;
  bool legacy;  // broadcast/axis attributes instead of numpy broadcasting
  DTypes types;
};

// Add/Sub/Mul/Div share their history: float only in opset 1, 32/64-bit ints
// from 6, numpy broadcasting from 7, every int width from 14.
const std::vector<ArithVersion> kArithVersions = {
    {1, 5, true, kFloats},
    {6, 6, true, kFloats + kInt32_64},
    {7, 13, false, kFloats + kInt32_64},
    {14, 1000, false, kNumeric},
};

template <template <class> class Op>
void add_arith(OpRegistry& r, const char* name, bool is_div, simd::BinaryOp simd_op) {
  for (const ArithVersion& v : kArithVersions) {
    OpSchema s;
    s.op_type = name;
    s.since_version = v.since;
    s.until_version = v.until;
    s.min_inputs = s.max_inputs = 2;
    s.infer = [v](InferContext& ctx) {
      check_dtype(ctx, 0, v.types);
      require_same_dtype(ctx, 0, 1);
      ctx.set_output(0, ctx.input(0).dtype, v.legacy ? legacy_broadcast_infer(ctx) : broadcast_inputs(ctx));
    };
    s.compute = [legacy = v.legacy, is_div, simd_op](ComputeContext& ctx) {
      BinaryShapes sh = binary_shapes(ctx, legacy);
      const Tensor& a = ctx.input(0);
      const Tensor& b = ctx.input(1);
      Tensor& c = ctx.allocate_output(0, a.dtype(), sh.out);
      if (a.dtype() == DType::Float32) {
        binary_f32_simd(ctx, simd_op, a, b, c, sh);
        return;
      }
      dispatch_numeric(a.dtype(), ctx, [&](auto tag) {
        using T = decltype(tag);
        const T* pb = b.data_as<T>();
        if constexpr (std::is_integral_v<T>) {
          if (is_div && c.numel() > 0)
            for (int64_t i = 0; i < b.numel(); ++i)
              if (pb[i] == 0) ctx.fail("integer division by zero (divisor element " + std::to_string(i) + ")");
        }
        binary_apply(a.data_as<T>(), sh.a, pb, sh.b, c.data_as<T>(), sh.out, Op<T>{});
      });
    };
    r.add(std::move(s));
  }
}

// ---- Pow ----------------------------------------------------------------------

// a^b for integers by binary exponentiation in wrapping arithmetic.
template <class T, class E>
T int_pow(T a, E b, std::atomic<bool>& zero_to_negative) {
  if constexpr (std::is_signed_v<E>) {
    if (b < 0) {
      if (a == 0) {
        zero_to_negative.store(true, std::memory_order_relaxed);
        return 0;
      }
      if (a == 1) return 1;
      if constexpr (std::is_signed_v<T>)
        if (a == -1) return (b % 2 == 0) ? T(1) : T(-1);
      return 0;
    }
  }
  wrap_t<T> result = 1, base = static_cast<wrap_t<T>>(a);
  for (auto e = static_cast<uint64_t>(b); e != 0; e >>= 1) {
    if (e & 1) result *= base;
    base *= base;
  }
  return static_cast<T>(result);
}

template <class T, class E>
struct PowOp {
  std::atomic<bool>* zero_to_negative;
  T operator()(T a, E b) const {
    if constexpr (std::is_floating_point_v<T>)
      return static_cast<T>(std::pow(static_cast<double>(a), static_cast<double>(b)));
    else if constexpr (std::is_floating_point_v<E>)
      return float_to_int<T>(std::pow(static_cast<double>(a), static_cast<double>(b)));
    else
      return int_pow(a, b, *zero_to_negative);
  }
};

struct PowVersion {
  int since, until;
  bool legacy;
  DTypes base, exponent;  // exponent empty: same dtype as the base
};

const std::vector<PowVersion> kPowVersions = {
    {1, 6, true, kFloats, {}},
    {7, 11, false, kFloats, {}},
    {12, 1000, false, kFloats + DTypes{DType::Int32, DType::Int64}, kNumeric},
};

void compute_pow(ComputeContext& ctx, bool legacy) {
  BinaryShapes sh = binary_shapes(ctx, legacy);
  const Tensor& a = ctx.input(0);
  const Tensor& b = ctx.input(1);
  Tensor& c = ctx.allocate_output(0, a.dtype(), sh.out);
  std::atomic<bool> zero_to_negative{false};
  dispatch_numeric(a.dtype(), ctx, [&](auto base_tag) {
    using T = decltype(base_tag);
    dispatch_numeric(b.dtype(), ctx, [&](auto exp_tag) {
      using E = decltype(exp_tag);
      const T* pa = a.data_as<T>();
      const E* pb = b.data_as<E>();
      T* pc = c.data_as<T>();
      if constexpr (std::is_floating_point_v<T>) {
        // x^2 (common in decomposed normalizations) is exactly x·x, correctly rounded either way.
        if (b.numel() == 1 && static_cast<double>(pb[0]) == 2.0) {
          binary_apply(pa, sh.a, pb, sh.b, pc, sh.out, [](T x, E) { return x * x; });
          return;
        }
      }
      // pow is costly: split smaller tensors over threads too.
      binary_apply(pa, sh.a, pb, sh.b, pc, sh.out, PowOp<T, E>{&zero_to_negative}, kGrain / 8);
    });
  });
  if (zero_to_negative.load()) ctx.fail("integer 0 raised to a negative power");
}

void add_pow(OpRegistry& r) {
  for (const PowVersion& v : kPowVersions) {
    OpSchema s;
    s.op_type = "Pow";
    s.since_version = v.since;
    s.until_version = v.until;
    s.min_inputs = s.max_inputs = 2;
    s.infer = [v](InferContext& ctx) {
      check_dtype(ctx, 0, v.base);
      if (v.exponent.empty()) require_same_dtype(ctx, 0, 1);
      else check_dtype(ctx, 1, v.exponent);
      ctx.set_output(0, ctx.input(0).dtype, v.legacy ? legacy_broadcast_infer(ctx) : broadcast_inputs(ctx));
    };
    s.compute = [legacy = v.legacy](ComputeContext& ctx) { compute_pow(ctx, legacy); };
    r.add(std::move(s));
  }
}

}  // namespace

void register_binary_math(OpRegistry& r) {
  add_arith<AddOp>(r, "Add", false, simd::BinaryOp::Add);
  add_arith<SubOp>(r, "Sub", false, simd::BinaryOp::Sub);
  add_arith<MulOp>(r, "Mul", false, simd::BinaryOp::Mul);
  add_arith<DivOp>(r, "Div", true, simd::BinaryOp::Div);
  add_pow(r);
}

}  // namespace kiln::ops::elementwise
