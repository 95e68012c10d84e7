// Shared by the elementwise op files (elementwise.cpp, binary.cpp,
// unary_math.cpp, compare.cpp, variadic.cpp, where.cpp, cast.cpp,
// activation.cpp): dtype sets, broadcasting in inference and computation,
// and parallel drivers over the reference kernels. Private to engine/ops.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>
#include <vector>

#include "kernels/reference/broadcast.h"
#include "kernels/reference/unary.h"
#include "ops/op_util.h"
#include "runtime/parallel.h"

namespace kiln::ops::elementwise {

// Registrations of the parts of the family; register_elementwise_ops
// (elementwise.cpp) calls them all.
void register_binary_math(OpRegistry& r);  // Add Sub Mul Div Pow        (binary.cpp)
void register_unary_math(OpRegistry& r);   // Sqrt Exp Log Neg Abs …     (unary_math.cpp)
void register_compare(OpRegistry& r);      // Equal Less … Not And Or Xor (compare.cpp)
void register_variadic(OpRegistry& r);     // Max Min Sum Mean           (variadic.cpp)
void register_where(OpRegistry& r);        // Where                      (where.cpp)
void register_cast(OpRegistry& r);         // Cast CastLike              (cast.cpp)

// ---- dtype sets -------------------------------------------------------------

using DTypes = std::vector<DType>;
inline const DTypes kFloats{DType::Float32, DType::Float64};
inline const DTypes kSigned{DType::Int8, DType::Int16, DType::Int32, DType::Int64};
inline const DTypes kUnsigned{DType::UInt8, DType::UInt16, DType::UInt32, DType::UInt64};
inline const DTypes kInt32_64{DType::Int32, DType::Int64, DType::UInt32, DType::UInt64};
inline const DTypes kBool{DType::Bool};
DTypes operator+(DTypes a, const DTypes& b);
inline const DTypes kNumeric = kFloats + kSigned + kUnsigned;

// Errors unless input i's dtype is in `allowed`, listing what kiln supports
// for this op at this opset.
void check_dtype(const InferContext& ctx, size_t i, const DTypes& allowed);

// ---- broadcasting -------------------------------------------------------------

// Multidirectional broadcast of every present input (inference; partial shapes).
ir::Shape broadcast_inputs(const InferContext& ctx);
// Same over concrete tensors.
std::vector<int64_t> broadcast_inputs(const ComputeContext& ctx);

// Opset < 7 binary ops broadcast B to A only when broadcast=1: B's dims
// match a contiguous run of A's dims starting at `axis` (suffix if axis is
// absent), or B has one element. Returns B's shape padded with 1s to rank(A).
std::vector<int64_t> legacy_broadcast_b(const ir::Node& node, const std::vector<int64_t>& a,
                                        const std::vector<int64_t>& b);
// Inference for the same rule: output is A's shape; checks what is known.
ir::Shape legacy_broadcast_infer(const InferContext& ctx);

// Input and output shapes of a binary op (A, B → C) as the broadcast walk sees
// them; `legacy` applies the opset < 7 rule (legacy_broadcast_b).
struct BinaryShapes {
  std::vector<int64_t> a, b, out;
};
BinaryShapes binary_shapes(const ComputeContext& ctx, bool legacy);

// Errors unless every concrete dim of `from` (aligned right) is 1 or equals
// the dim of `to`: unidirectional broadcasting (PRelu's slope, say).
void check_unidirectional(const InferContext& ctx, const ir::Shape& from, const ir::Shape& to, const char* what);
void check_unidirectional(const ComputeContext& ctx, const std::vector<int64_t>& from, const std::vector<int64_t>& to,
                          const char* what);

// Elements per parallel chunk: elementwise loops are memory-bound, so only
// large tensors are split.
constexpr int64_t kGrain = int64_t{1} << 15;

// c = f(a, b) with a and b broadcast to c's shape, split over threads.
template <class A, class B, class C, class F>
void binary_apply(const A* a, const std::vector<int64_t>& a_shape, const B* b, const std::vector<int64_t>& b_shape,
                  C* c, const std::vector<int64_t>& c_shape, const F& f, int64_t grain = kGrain) {
  auto plan = kernels::ref::plan_broadcast<2>(c_shape, {broadcast_strides(a_shape, c_shape),
                                                        broadcast_strides(b_shape, c_shape)});
  runtime::parallel_for(plan.numel, grain, [&](int64_t begin, int64_t end) {
    kernels::ref::binary_broadcast(plan, a, b, c, begin, end, f);
  });
}

// d = f(a, b, c) with a, b, c broadcast to d's shape, split over threads.
template <class A, class B, class C, class D, class F>
void ternary_apply(const A* a, const std::vector<int64_t>& a_shape, const B* b, const std::vector<int64_t>& b_shape,
                   const C* c, const std::vector<int64_t>& c_shape, D* d, const std::vector<int64_t>& d_shape,
                   const F& f) {
  auto plan = kernels::ref::plan_broadcast<3>(
      d_shape, {broadcast_strides(a_shape, d_shape), broadcast_strides(b_shape, d_shape),
                broadcast_strides(c_shape, d_shape)});
  runtime::parallel_for(plan.numel, kGrain, [&](int64_t begin, int64_t end) {
    kernels::ref::ternary_broadcast(plan, a, b, c, d, begin, end, f);
  });
}

// y[i] = f(x[i]) for i < n, split over threads.
template <class T, class U, class F>
void unary_apply(const T* x, U* y, int64_t n, const F& f, int64_t grain = kGrain) {
  runtime::parallel_for(n, grain, [&](int64_t begin, int64_t end) {
    kernels::ref::unary_map(x + begin, y + begin, end - begin, f);
  });
}

// Calls f(T{}) for T = float or double; an error naming the node otherwise.
template <class F>
void dispatch_float(DType t, const ComputeContext& ctx, F&& f) {
  if (t == DType::Float32) f(float{});
  else if (t == DType::Float64) f(double{});
  else ctx.fail("dtype " + dtype_name(t) + " is not supported for this op");
}

// The `make` argument of add_unary for a function without attributes.
template <class F>
auto plain(F f) {
  return [f](const ir::Node&) { return f; };
}

// No fast path: every dtype runs the reference function.
struct NoFastPath {
  bool operator()(ComputeContext&, const Tensor&, Tensor&) const { return false; }
};

// Registers a unary op y = f(x), y of x's dtype, for opsets [since, until]
// and input dtypes `types`. make(node) validates attributes (it runs at load
// too) and returns the elementwise function, generic over the element type:
// float and double when Ints is false, every numeric type when it is true.
// fast(ctx, x, y) may compute y itself (a SIMD kernel) and return true.
template <bool Ints, class Make, class Fast = NoFastPath>
void add_unary(OpRegistry& r, const char* name, int since, int until, DTypes types, Make make,
               int64_t grain = kGrain, Fast fast = {}) {
  OpSchema s;
  s.op_type = name;
  s.since_version = since;
  s.until_version = until;
  s.min_inputs = s.max_inputs = 1;
  s.infer = [types, make](InferContext& ctx) {
    check_dtype(ctx, 0, types);
    make(ctx.node());
    ctx.set_output(0, ctx.input(0).dtype, in_shape(ctx, 0));
  };
  s.compute = [make, grain, fast](ComputeContext& ctx) {
    const Tensor& x = ctx.input(0);
    Tensor& y = ctx.allocate_output(0, x.dtype(), x.shape());
    auto f = make(ctx.node());  // also validates attributes for the fast path
    if (fast(ctx, x, y)) return;
    auto run = [&](auto tag) {
      using T = decltype(tag);
      unary_apply(x.data_as<T>(), y.data_as<T>(), x.numel(), [&f](T v) { return static_cast<T>(f(v)); }, grain);
    };
    if constexpr (Ints) dispatch_numeric(x.dtype(), ctx, run);
    else dispatch_float(x.dtype(), ctx, run);
  };
  r.add(std::move(s));
}

// Per-element cost hint for add_unary: transcendental functions are split
// over threads at smaller sizes than memory-bound ones.
constexpr int64_t kGrainCostly = kGrain / 8;

// ---- element conversions ----------------------------------------------------

// Storage of a dtype tag: bool tensors hold one byte per element.
template <class T>
using storage_t = std::conditional_t<std::is_same_v<T, bool>, uint8_t, T>;

// Unsigned type wide enough that +, -, * wrap instead of overflowing (small
// types are promoted to int, where overflow would be undefined).
template <class T>
using wrap_t = std::conditional_t<(sizeof(T) < sizeof(unsigned)), unsigned, std::make_unsigned_t<T>>;

// Float to integer: truncation toward zero (C++'s cast), with the cases C++
// leaves undefined made definite: NaN gives 0, out-of-range saturates.
template <class T, class F>
T float_to_int(F v) {
  if (std::isnan(v)) return 0;
  // Bounds as F: lowest() of a signed type is a power of two (exact); max()+1 likewise.
  constexpr F lo = static_cast<F>(std::numeric_limits<T>::lowest());
  constexpr F hi = static_cast<F>(std::numeric_limits<T>::max() / 2 + 1) * F(2);
  if (v <= lo) return std::numeric_limits<T>::lowest();
  if (v >= hi) return std::numeric_limits<T>::max();
  return static_cast<T>(v);
}

// Converts one value of dtype tag S to dtype tag D with ONNX Cast semantics.
template <class D, class S>
D convert(S v) {
  if constexpr (std::is_same_v<D, bool>) return v != S(0);
  else if constexpr (std::is_floating_point_v<S> && std::is_integral_v<D>) return float_to_int<D>(v);
  else return static_cast<D>(v);
}

}  // namespace kiln::ops::elementwise
