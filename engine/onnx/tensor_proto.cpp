#include "onnx/tensor_proto.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bit>
#include <charconv>
#include <cstring>
#include <filesystem>

#include <onnx/onnx_pb.h>

namespace kiln::onnx_import {

static_assert(std::endian::native == std::endian::little, "kiln reads raw_data as little-endian");

namespace fs = std::filesystem;

namespace {

uint64_t parse_u64(const std::string& s, const std::string& key, const std::string& where) {
  uint64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || s.empty())
    throw Error(where + ": external data '" + key + "' is not a non-negative integer: '" + s + "'");
  return v;
}

// Resolves `location` inside `base_dir` and refuses anything that leaves it:
// absolute paths, '..' components, and symlinks (anywhere on the path) that
// point outside. Returns the canonical path.
fs::path resolve_external_path(const std::string& base_dir, const std::string& location, const std::string& where) {
  if (base_dir.empty())
    throw Error(where + ": uses external data ('" + location +
                "') but the model was loaded from memory without a base folder");
  if (location.empty()) throw Error(where + ": external data has an empty 'location'");
  if (location.find('\0') != std::string::npos) throw Error(where + ": external data location contains a NUL byte");
  fs::path rel(location);
  if (rel.is_absolute() || rel.has_root_name() || rel.has_root_directory())
    throw Error(where + ": external data location '" + location + "' is an absolute path; it must be relative to the model's folder");
  for (const auto& part : rel)
    if (part == "..")
      throw Error(where + ": external data location '" + location + "' contains '..'; it must stay inside the model's folder");
  std::error_code ec;
  fs::path base = fs::canonical(base_dir, ec);
  if (ec) throw Error(where + ": cannot resolve the model folder '" + base_dir + "': " + ec.message());
  fs::path full = fs::weakly_canonical(base / rel, ec);
  if (ec) throw Error(where + ": cannot resolve external data '" + location + "': " + ec.message());
  auto b = base.lexically_normal().string();
  auto f = full.lexically_normal().string();
  if (f.size() <= b.size() || f.compare(0, b.size(), b) != 0 || (b.back() != '/' && f[b.size()] != '/'))
    throw Error(where + ": external data '" + location + "' resolves to '" + f + "', outside the model folder '" + b + "'");
  return full;
}

Tensor read_external(const onnx::TensorProto& p, DType dtype, const std::vector<int64_t>& dims, int64_t numel,
                     const TensorLimits& limits, const std::string& where) {
  std::string location;
  uint64_t offset = 0;
  bool has_length = false;
  uint64_t length = 0;
  for (const auto& kv : p.external_data()) {
    if (kv.key() == "location") location = kv.value();
    else if (kv.key() == "offset") offset = parse_u64(kv.value(), "offset", where);
    else if (kv.key() == "length") { length = parse_u64(kv.value(), "length", where); has_length = true; }
    // "checksum" and "basepath" are informational; other keys are ignored.
  }
  uint64_t want = static_cast<uint64_t>(numel) * dtype_size(dtype);
  if (has_length && length != want)
    throw Error(where + ": external data length " + std::to_string(length) + " does not match shape " +
                shape_to_string(dims) + " of " + dtype_name(dtype) + " (" + std::to_string(want) + " bytes)");
  fs::path path = resolve_external_path(limits.base_dir, location, where);
  // O_NONBLOCK: opening a FIFO planted in the model folder would otherwise
  // wait forever for a writer; the fstat below then refuses anything that is
  // not a regular file (reads of regular files ignore the flag).
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
  if (fd < 0) throw Error(where + ": cannot open external data file '" + path.string() + "': " + std::strerror(errno));
  struct Closer { int fd; ~Closer() { ::close(fd); } } closer{fd};
  struct stat st{};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
    throw Error(where + ": external data '" + path.string() + "' is not a regular file");
  uint64_t size = static_cast<uint64_t>(st.st_size);
  if (offset > size || want > size - offset)
    throw Error(where + ": external data needs bytes [" + std::to_string(offset) + ", " + std::to_string(offset + want) +
                ") but '" + path.string() + "' has " + std::to_string(size) + " bytes");
  Tensor t(dtype, dims);
  auto* dst = static_cast<char*>(t.data());
  uint64_t done = 0;
  while (done < want) {
    ssize_t n = ::pread(fd, dst + done, want - done, static_cast<off_t>(offset + done));
    if (n <= 0) throw Error(where + ": reading external data '" + path.string() + "' failed");
    done += static_cast<uint64_t>(n);
  }
  return t;
}

template <class Dst, class Field>
void copy_field(const Field& field, Tensor& t) {
  auto* dst = t.data_as<Dst>();
  for (int i = 0; i < field.size(); ++i) dst[i] = static_cast<Dst>(field.Get(i));
}

}  // namespace

Tensor tensor_from_proto(const onnx::TensorProto& p, const TensorLimits& limits, const std::string& where) {
  auto dtype = static_cast<DType>(p.data_type());
  if (!dtype_is_supported(dtype))
    throw Error(where + ": dtype " + dtype_name(dtype) + " is not supported by kiln");
  if (p.dims_size() > limits.max_rank)
    throw Error(where + ": rank " + std::to_string(p.dims_size()) + " exceeds the limit of " +
                std::to_string(limits.max_rank));
  std::vector<int64_t> dims(p.dims().begin(), p.dims().end());
  for (int64_t d : dims)
    if (d < 0) throw Error(where + ": negative dimension in shape " + shape_to_string(dims));
  int64_t numel;
  try {
    numel = checked_numel(dims);
  } catch (const Error& e) {
    throw Error(where + ": " + e.what());
  }
  if (static_cast<uint64_t>(numel) > limits.max_tensor_elements)
    throw Error(where + ": " + std::to_string(numel) + " elements exceeds the limit of " +
                std::to_string(limits.max_tensor_elements));
  uint64_t bytes = static_cast<uint64_t>(numel) * dtype_size(dtype);
  if (limits.total_bytes) {
    if (bytes > limits.max_total_bytes - *limits.total_bytes)
      throw Error(where + ": initializers exceed the limit of " + std::to_string(limits.max_total_bytes) + " bytes");
    *limits.total_bytes += bytes;
  }

  if (p.has_data_location() && p.data_location() == onnx::TensorProto::EXTERNAL)
    return read_external(p, dtype, dims, numel, limits, where);

  if (p.has_raw_data()) {
    if (p.raw_data().size() != bytes)
      throw Error(where + ": raw_data holds " + std::to_string(p.raw_data().size()) + " bytes but shape " +
                  shape_to_string(dims) + " of " + dtype_name(dtype) + " needs " + std::to_string(bytes));
    Tensor t = Tensor::uninitialized(dtype, dims);
    if (bytes) std::memcpy(t.data(), p.raw_data().data(), bytes);
    return t;
  }

  auto check_count = [&](int count, const char* field) {
    if (count != numel)
      throw Error(where + ": " + field + " holds " + std::to_string(count) + " values but shape " +
                  shape_to_string(dims) + " needs " + std::to_string(numel));
  };
  Tensor t(dtype, dims);
  switch (dtype) {
    case DType::Float32: check_count(p.float_data_size(), "float_data"); copy_field<float>(p.float_data(), t); break;
    case DType::Float64: check_count(p.double_data_size(), "double_data"); copy_field<double>(p.double_data(), t); break;
    case DType::Int64: check_count(p.int64_data_size(), "int64_data"); copy_field<int64_t>(p.int64_data(), t); break;
    case DType::UInt32: check_count(p.uint64_data_size(), "uint64_data"); copy_field<uint32_t>(p.uint64_data(), t); break;
    case DType::UInt64: check_count(p.uint64_data_size(), "uint64_data"); copy_field<uint64_t>(p.uint64_data(), t); break;
    case DType::Int32: check_count(p.int32_data_size(), "int32_data"); copy_field<int32_t>(p.int32_data(), t); break;
    case DType::Int16: check_count(p.int32_data_size(), "int32_data"); copy_field<int16_t>(p.int32_data(), t); break;
    case DType::Int8: check_count(p.int32_data_size(), "int32_data"); copy_field<int8_t>(p.int32_data(), t); break;
    case DType::UInt16: case DType::Float16: case DType::BFloat16:
      check_count(p.int32_data_size(), "int32_data"); copy_field<uint16_t>(p.int32_data(), t); break;
    case DType::UInt8: check_count(p.int32_data_size(), "int32_data"); copy_field<uint8_t>(p.int32_data(), t); break;
    case DType::Bool: {
      check_count(p.int32_data_size(), "int32_data");
      auto* dst = t.data_as<uint8_t>();
      for (int i = 0; i < p.int32_data_size(); ++i) dst[i] = p.int32_data(i) != 0;
      break;
    }
    default: throw Error(where + ": dtype " + dtype_name(dtype) + " is not supported by kiln");
  }
  return t;
}

void tensor_to_proto(const Tensor& t, const std::string& name, onnx::TensorProto* proto) {
  proto->Clear();
  if (!name.empty()) proto->set_name(name);
  proto->set_data_type(static_cast<int32_t>(t.dtype()));
  for (int64_t d : t.shape()) proto->add_dims(d);
  proto->set_raw_data(std::string(static_cast<const char*>(t.data()), t.nbytes()));
}

}  // namespace kiln::onnx_import
