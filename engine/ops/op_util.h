// Helpers shared by op implementations: broadcasting, axes, dtype checks,
// reading small integer tensors, and dtype dispatch.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "ops/op.h"

namespace kiln::ops {

// Multidirectional (numpy) broadcasting of two shapes; -1 dims stay unknown
// where they cannot be resolved. `fail` reports incompatible dims.
ir::Shape broadcast_shapes(const InferContext& ctx, const ir::Shape& a, const ir::Shape& b);
// Concrete broadcasting; throws via ctx on incompatible shapes.
std::vector<int64_t> broadcast_dims(const ComputeContext& ctx, const std::vector<int64_t>& a,
                                    const std::vector<int64_t>& b);

// Strides (in elements) of `shape` when broadcast to `out` (rank(out) >= rank(shape)):
// 0 along broadcast dims. Used to walk inputs of a broadcasting op.
std::vector<int64_t> broadcast_strides(const std::vector<int64_t>& shape, const std::vector<int64_t>& out);

// Normalizes axis in [-rank, rank) (or [-rank-1, rank] with allow_end) to
// [0, rank); a clear error otherwise.
// a * b and a + b for non-negative dimension sizes computed from data (Tile
// repeats, Pad amounts, Concat sums, …): an Error naming the node when the
// result would overflow int64, instead of signed overflow.
int64_t dim_mul(int64_t a, int64_t b, const ir::Node& node);
int64_t dim_add(int64_t a, int64_t b, const ir::Node& node);

int64_t normalize_axis(int64_t axis, int64_t rank, const ir::Node& node, const char* what = "axis",
                       bool allow_end = false);

// Values of a 0-D/1-D int32/int64 tensor as int64.
std::vector<int64_t> to_int64s(const Tensor& t, const ir::Node& node, const char* what);
// Values of a 0-D/1-D float tensor (any float dtype convertible) as double.
double scalar_as_double(const Tensor& t, const ir::Node& node, const char* what);

// Errors unless input i's dtype is one of `allowed`.
void require_dtype(const InferContext& ctx, size_t i, std::initializer_list<DType> allowed);
// Errors unless inputs i and j have the same dtype.
void require_same_dtype(const InferContext& ctx, size_t i, size_t j);

bool is_float(DType t);    // float32/float64 (the float types kiln computes in)
bool is_integer(DType t);  // int8..int64, uint8..uint64

// Calls f(T{}) with T the C++ type of dtype, over the listed dtypes; an error
// naming the node otherwise. Usage:
//   dispatch_numeric(t.dtype(), ctx, [&](auto tag) { using T = decltype(tag); ... });
template <class F>
void dispatch_numeric(DType t, const ComputeContext& ctx, F&& f) {
  switch (t) {
    case DType::Float32: f(float{}); return;
    case DType::Float64: f(double{}); return;
    case DType::Int64: f(int64_t{}); return;
    case DType::Int32: f(int32_t{}); return;
    case DType::Int16: f(int16_t{}); return;
    case DType::Int8: f(int8_t{}); return;
    case DType::UInt64: f(uint64_t{}); return;
    case DType::UInt32: f(uint32_t{}); return;
    case DType::UInt16: f(uint16_t{}); return;
    case DType::UInt8: f(uint8_t{}); return;
    default: ctx.fail("dtype " + dtype_name(t) + " is not supported for this op");
  }
}

// Like dispatch_numeric but also Bool (as uint8_t storage, tagged by bool).
template <class F>
void dispatch_all(DType t, const ComputeContext& ctx, F&& f) {
  if (t == DType::Bool) {
    f(bool{});
    return;
  }
  dispatch_numeric(t, ctx, f);
}

// Shape helpers.
inline ir::Shape known(std::vector<int64_t> d) { return ir::Shape::of(std::move(d)); }
// Shape of input i as inference sees it (may be unknown).
inline const ir::Shape& in_shape(const InferContext& ctx, size_t i) { return ctx.input(i).shape; }

}  // namespace kiln::ops
