#include <atomic>
#include <cstdlib>
#include <cstring>
#include <limits>

#include "core/tensor_stats.h"
#include "kiln/kiln.h"

namespace kiln {

size_t dtype_size(DType t) {
  switch (t) {
    case DType::Float32: case DType::Int32: case DType::UInt32: return 4;
    case DType::Float64: case DType::Int64: case DType::UInt64: return 8;
    case DType::Float16: case DType::BFloat16: case DType::Int16: case DType::UInt16: return 2;
    case DType::Int8: case DType::UInt8: case DType::Bool: return 1;
    default: return 0;
  }
}

std::string dtype_name(DType t) {
  switch (t) {
    case DType::Undefined: return "undefined";
    case DType::Float32: return "float32";
    case DType::UInt8: return "uint8";
    case DType::Int8: return "int8";
    case DType::UInt16: return "uint16";
    case DType::Int16: return "int16";
    case DType::Int32: return "int32";
    case DType::Int64: return "int64";
    case DType::String: return "string";
    case DType::Bool: return "bool";
    case DType::Float16: return "float16";
    case DType::Float64: return "float64";
    case DType::UInt32: return "uint32";
    case DType::UInt64: return "uint64";
    case DType::BFloat16: return "bfloat16";
  }
  return "dtype(" + std::to_string(static_cast<int>(t)) + ")";
}

bool dtype_is_supported(DType t) { return dtype_size(t) != 0; }

int64_t checked_numel(const std::vector<int64_t>& shape) {
  // Anything above 2^62 elements cannot be allocated anyway; keeping the bound
  // there leaves headroom so that numel * 8 bytes still fits in uint64.
  constexpr int64_t kMax = int64_t{1} << 60;
  int64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0) throw Error("negative dimension " + std::to_string(d) + " in shape " + shape_to_string(shape));
    if (d != 0 && n > kMax / d)
      throw Error("element count of shape " + shape_to_string(shape) + " overflows");
    n *= d;
  }
  return n;
}

std::string shape_to_string(const std::vector<int64_t>& shape) {
  if (shape.empty()) return "scalar";
  std::string s;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) s += 'x';
    s += shape[i] < 0 ? std::string("?") : std::to_string(shape[i]);
  }
  return s;
}

namespace {
std::atomic<uint64_t> g_storage_allocations{0};

std::shared_ptr<void> allocate(size_t bytes, bool zeroed) {
  g_storage_allocations.fetch_add(1, std::memory_order_relaxed);
  size_t rounded = (bytes + 63) / 64 * 64;
  if (rounded == 0) rounded = 64;
  void* p = std::aligned_alloc(64, rounded);
  if (!p) throw Error("out of memory allocating " + std::to_string(bytes) + " bytes");
  if (zeroed) std::memset(p, 0, rounded);
  return std::shared_ptr<void>(p, [](void* q) { std::free(q); });
}
}  // namespace

uint64_t detail::tensor_storage_allocations() { return g_storage_allocations.load(std::memory_order_relaxed); }

bool detail::storage_is_unique(const Tensor& t) { return t.storage_ && t.storage_.use_count() == 1; }

Tensor detail::subview(const Tensor& t, int64_t element_offset, std::vector<int64_t> shape) {
  const int64_t n = checked_numel(shape);
  if (element_offset < 0 || element_offset > t.numel_ || n > t.numel_ - element_offset)
    throw Error("a view of " + std::to_string(n) + " elements at " + std::to_string(element_offset) +
                " does not fit in a tensor of shape " + shape_to_string(t.shape_) + " (internal error)");
  Tensor v = t;
  v.shape_ = std::move(shape);
  v.numel_ = n;
  v.data_ = static_cast<char*>(t.data_) + element_offset * static_cast<int64_t>(dtype_size(t.dtype_));
  return v;
}

Tensor::Tensor(DType dtype, std::vector<int64_t> shape) : dtype_(dtype), shape_(std::move(shape)) {
  if (!dtype_is_supported(dtype)) throw Error("cannot create a tensor of dtype " + dtype_name(dtype));
  numel_ = checked_numel(shape_);
  storage_ = allocate(nbytes(), /*zeroed=*/true);
  data_ = storage_.get();
}

Tensor Tensor::uninitialized(DType dtype, std::vector<int64_t> shape) {
  if (!dtype_is_supported(dtype)) throw Error("cannot create a tensor of dtype " + dtype_name(dtype));
  Tensor t;
  t.dtype_ = dtype;
  t.shape_ = std::move(shape);
  t.numel_ = checked_numel(t.shape_);
  t.storage_ = allocate(t.nbytes(), /*zeroed=*/false);
  t.data_ = t.storage_.get();
  return t;
}

Tensor Tensor::wrap(DType dtype, std::vector<int64_t> shape, void* data) {
  if (!dtype_is_supported(dtype)) throw Error("cannot wrap a tensor of dtype " + dtype_name(dtype));
  Tensor t;
  t.dtype_ = dtype;
  t.shape_ = std::move(shape);
  t.numel_ = checked_numel(t.shape_);
  if (!data && t.numel_ > 0) throw Error("Tensor::wrap: null data for a non-empty tensor");
  t.data_ = data;
  return t;
}

Tensor Tensor::clone() const {
  if (empty()) return {};
  Tensor t = uninitialized(dtype_, shape_);
  if (nbytes()) std::memcpy(t.data_, data_, nbytes());
  return t;
}

Tensor Tensor::reshaped(std::vector<int64_t> shape) const {
  int64_t n = checked_numel(shape);
  if (n != numel_)
    throw Error("cannot reshape " + shape_to_string(shape_) + " to " + shape_to_string(shape));
  Tensor t = *this;
  t.shape_ = std::move(shape);
  return t;
}

}  // namespace kiln
