#include "ops/op_util.h"

#include <algorithm>

namespace kiln::ops {

ir::Shape broadcast_shapes(const InferContext& ctx, const ir::Shape& a, const ir::Shape& b) {
  if (!a.known || !b.known) return ir::Shape::unknown();
  size_t r = std::max(a.rank(), b.rank());
  std::vector<int64_t> out(r);
  for (size_t i = 0; i < r; ++i) {
    int64_t da = i < r - a.rank() ? 1 : a.dims[i - (r - a.rank())];
    int64_t db = i < r - b.rank() ? 1 : b.dims[i - (r - b.rank())];
    if (da == 1) out[i] = db;
    else if (db == 1) out[i] = da;
    else if (da < 0 && db < 0) out[i] = -1;
    else if (da < 0) out[i] = db;
    else if (db < 0) out[i] = da;
    else if (da == db) out[i] = da;
    else ctx.fail("cannot broadcast shapes " + a.str() + " and " + b.str());
  }
  return ir::Shape::of(out);
}

std::vector<int64_t> broadcast_dims(const ComputeContext& ctx, const std::vector<int64_t>& a,
                                    const std::vector<int64_t>& b) {
  size_t r = std::max(a.size(), b.size());
  std::vector<int64_t> out(r);
  for (size_t i = 0; i < r; ++i) {
    int64_t da = i < r - a.size() ? 1 : a[i - (r - a.size())];
    int64_t db = i < r - b.size() ? 1 : b[i - (r - b.size())];
    if (da == db || db == 1) out[i] = da;
    else if (da == 1) out[i] = db;
    else ctx.fail("cannot broadcast shapes " + shape_to_string(a) + " and " + shape_to_string(b));
  }
  return out;
}

std::vector<int64_t> broadcast_strides(const std::vector<int64_t>& shape, const std::vector<int64_t>& out) {
  std::vector<int64_t> strides(out.size(), 0);
  int64_t s = 1;
  size_t off = out.size() - shape.size();
  for (size_t i = shape.size(); i-- > 0;) {
    strides[i + off] = shape[i] == 1 ? 0 : s;
    s *= shape[i];
  }
  return strides;
}

int64_t dim_mul(int64_t a, int64_t b, const ir::Node& node) {
  int64_t r;
  if (__builtin_mul_overflow(a, b, &r))
    throw Error(node.describe() + ": output dimension " + std::to_string(a) + " x " + std::to_string(b) + " overflows");
  return r;
}

int64_t dim_add(int64_t a, int64_t b, const ir::Node& node) {
  int64_t r;
  if (__builtin_add_overflow(a, b, &r))
    throw Error(node.describe() + ": output dimension " + std::to_string(a) + " + " + std::to_string(b) + " overflows");
  return r;
}

int64_t normalize_axis(int64_t axis, int64_t rank, const ir::Node& node, const char* what, bool allow_end) {
  int64_t hi = allow_end ? rank + 1 : rank;
  int64_t a = axis < 0 ? axis + hi : axis;
  if (a < 0 || a >= hi)
    throw Error(node.describe() + ": " + what + " " + std::to_string(axis) + " is out of range for rank " +
                std::to_string(rank));
  return a;
}

std::vector<int64_t> to_int64s(const Tensor& t, const ir::Node& node, const char* what) {
  if (t.rank() > 1)
    throw Error(node.describe() + ": " + what + " must be a 0-D or 1-D tensor, got shape " + shape_to_string(t.shape()));
  std::vector<int64_t> v(static_cast<size_t>(t.numel()));
  if (t.dtype() == DType::Int64) std::copy_n(t.data_as<int64_t>(), v.size(), v.begin());
  else if (t.dtype() == DType::Int32) std::copy_n(t.data_as<int32_t>(), v.size(), v.begin());
  else throw Error(node.describe() + ": " + what + " must be int64 or int32, got " + dtype_name(t.dtype()));
  return v;
}

double scalar_as_double(const Tensor& t, const ir::Node& node, const char* what) {
  if (t.numel() != 1)
    throw Error(node.describe() + ": " + what + " must hold one value, got shape " + shape_to_string(t.shape()));
  switch (t.dtype()) {
    case DType::Float32: return *t.data_as<float>();
    case DType::Float64: return *t.data_as<double>();
    case DType::Int64: return static_cast<double>(*t.data_as<int64_t>());
    case DType::Int32: return *t.data_as<int32_t>();
    case DType::Int16: return *t.data_as<int16_t>();
    case DType::Int8: return *t.data_as<int8_t>();
    case DType::UInt64: return static_cast<double>(*t.data_as<uint64_t>());
    case DType::UInt32: return *t.data_as<uint32_t>();
    case DType::UInt16: return *t.data_as<uint16_t>();
    case DType::UInt8: return *t.data_as<uint8_t>();
    case DType::Bool: return *t.data_as<uint8_t>() ? 1.0 : 0.0;
    default: throw Error(node.describe() + ": " + what + " has unsupported dtype " + dtype_name(t.dtype()));
  }
}

void require_dtype(const InferContext& ctx, size_t i, std::initializer_list<DType> allowed) {
  DType t = ctx.input(i).dtype;
  for (DType a : allowed)
    if (a == t) return;
  std::string list;
  for (DType a : allowed) list += (list.empty() ? "" : ", ") + dtype_name(a);
  ctx.fail("input " + std::to_string(i) + " has dtype " + dtype_name(t) + "; kiln supports " + list + " here");
}

void require_same_dtype(const InferContext& ctx, size_t i, size_t j) {
  if (ctx.input(i).dtype != ctx.input(j).dtype)
    ctx.fail("inputs " + std::to_string(i) + " and " + std::to_string(j) + " have different dtypes (" +
             dtype_name(ctx.input(i).dtype) + " and " + dtype_name(ctx.input(j).dtype) + ")");
}

bool is_float(DType t) { return t == DType::Float32 || t == DType::Float64; }

bool is_integer(DType t) {
  switch (t) {
    case DType::Int8: case DType::Int16: case DType::Int32: case DType::Int64:
    case DType::UInt8: case DType::UInt16: case DType::UInt32: case DType::UInt64: return true;
    default: return false;
  }
}

}  // namespace kiln::ops
