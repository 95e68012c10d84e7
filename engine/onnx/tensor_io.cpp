// .pb (TensorProto) and .npy reading/writing for kiln/tensor_io.h.
#include "kiln/tensor_io.h"

#include <algorithm>
#include <cctype>
#include <climits>
#include <cstring>
#include <filesystem>
#include <fstream>

#include <google/protobuf/io/coded_stream.h>
#include <onnx/onnx_pb.h>

#include "onnx/tensor_proto.h"

namespace kiln {

namespace {

std::string read_file(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) throw Error(path + ": is a directory, not a tensor file");
  std::ifstream f(path, std::ios::binary | std::ios::ate);
  if (!f) throw Error(path + ": cannot open");
  std::streamoff size = f.tellg();
  if (size < 0 || static_cast<uint64_t>(size) > static_cast<uint64_t>(INT_MAX)) throw Error(path + ": cannot read (too large or unreadable)");
  std::string bytes(static_cast<size_t>(size), '\0');
  f.seekg(0);
  if (size > 0 && !f.read(bytes.data(), size)) throw Error(path + ": cannot read");
  return bytes;
}

DType npy_dtype(const std::string& descr, const std::string& where) {
  if (descr.size() < 3) throw Error(where + ": unknown .npy dtype '" + descr + "'");
  char order = descr[0];
  if (order == '>' && descr.substr(1) != "i1" && descr.substr(1) != "u1" && descr.substr(1) != "b1")
    throw Error(where + ": big-endian .npy data is not supported");
  std::string t = descr.substr(1);
  if (t == "f4") return DType::Float32;
  if (t == "f8") return DType::Float64;
  if (t == "f2") return DType::Float16;
  if (t == "i8") return DType::Int64;
  if (t == "i4") return DType::Int32;
  if (t == "i2") return DType::Int16;
  if (t == "i1") return DType::Int8;
  if (t == "u8") return DType::UInt64;
  if (t == "u4") return DType::UInt32;
  if (t == "u2") return DType::UInt16;
  if (t == "u1") return DType::UInt8;
  if (t == "b1") return DType::Bool;
  throw Error(where + ": .npy dtype '" + descr + "' is not supported");
}

// Finds the value text after 'key': in a .npy header dict.
std::string header_field(const std::string& h, const std::string& key, const std::string& where) {
  auto k = h.find("'" + key + "'");
  if (k == std::string::npos) throw Error(where + ": .npy header lacks '" + key + "'");
  auto colon = h.find(':', k);
  if (colon == std::string::npos) throw Error(where + ": malformed .npy header");
  size_t i = colon + 1;
  while (i < h.size() && h[i] == ' ') ++i;
  return h.substr(i);
}

Tensor parse_npy(const std::string& bytes, const std::string& where) {
  if (bytes.size() < 10) throw Error(where + ": truncated .npy header");
  int major = static_cast<unsigned char>(bytes[6]);
  size_t header_len, start;
  if (major == 1) {
    header_len = static_cast<unsigned char>(bytes[8]) | (static_cast<size_t>(static_cast<unsigned char>(bytes[9])) << 8);
    start = 10;
  } else if (major == 2 || major == 3) {
    if (bytes.size() < 12) throw Error(where + ": truncated .npy header");
    header_len = 0;
    for (int i = 0; i < 4; ++i) header_len |= static_cast<size_t>(static_cast<unsigned char>(bytes[8 + i])) << (8 * i);
    start = 12;
  } else {
    throw Error(where + ": unsupported .npy version " + std::to_string(major));
  }
  if (header_len > bytes.size() - start) throw Error(where + ": truncated .npy header");
  std::string h = bytes.substr(start, header_len);
  std::string descr_text = header_field(h, "descr", where);
  if (descr_text.empty() || descr_text[0] != '\'') throw Error(where + ": malformed .npy descr");
  auto end_quote = descr_text.find('\'', 1);
  if (end_quote == std::string::npos) throw Error(where + ": malformed .npy descr");
  DType dtype = npy_dtype(descr_text.substr(1, end_quote - 1), where);
  std::string fortran = header_field(h, "fortran_order", where);
  if (fortran.rfind("True", 0) == 0) throw Error(where + ": Fortran-ordered .npy arrays are not supported");
  std::string shape_text = header_field(h, "shape", where);
  if (shape_text.empty() || shape_text[0] != '(') throw Error(where + ": malformed .npy shape");
  auto close = shape_text.find(')');
  if (close == std::string::npos) throw Error(where + ": malformed .npy shape");
  std::vector<int64_t> shape;
  std::string inner = shape_text.substr(1, close - 1);
  size_t i = 0;
  while (i < inner.size()) {
    while (i < inner.size() && (inner[i] == ' ' || inner[i] == ',')) ++i;
    if (i >= inner.size()) break;
    size_t j = i;
    while (j < inner.size() && std::isdigit(static_cast<unsigned char>(inner[j]))) ++j;
    if (j == i) throw Error(where + ": malformed .npy shape '" + inner + "'");
    if (j - i > 18) throw Error(where + ": .npy dimension too large");
    shape.push_back(std::stoll(inner.substr(i, j - i)));
    i = j;
  }
  int64_t numel = checked_numel(shape);
  size_t data_start = start + header_len;
  uint64_t want = static_cast<uint64_t>(numel) * dtype_size(dtype);
  if (bytes.size() - data_start != want)
    throw Error(where + ": .npy data holds " + std::to_string(bytes.size() - data_start) + " bytes but shape " +
                shape_to_string(shape) + " of " + dtype_name(dtype) + " needs " + std::to_string(want));
  Tensor t(dtype, shape);
  if (want) std::memcpy(t.data(), bytes.data() + data_start, want);
  return t;
}

}  // namespace

Tensor parse_tensor_proto(const void* data, size_t size, std::string* name) {
  // protobuf sizes are ints: check before handing the size over.
  if (size > static_cast<size_t>(INT_MAX)) throw Error("a serialized TensorProto cannot exceed 2 GiB");
  onnx::TensorProto proto;
  google::protobuf::io::CodedInputStream stream(static_cast<const uint8_t*>(data), static_cast<int>(size));
  stream.SetTotalBytesLimit(INT_MAX);
  if (!proto.ParseFromCodedStream(&stream) || !stream.ConsumedEntireMessage())
    throw Error("not a valid serialized TensorProto");
  if (name) *name = proto.name();
  onnx_import::TensorLimits limits;  // no base folder: external data is refused
  // Shown in messages, which are C strings: keep a NUL from cutting them.
  std::string shown = proto.name();
  std::replace(shown.begin(), shown.end(), '\0', '?');
  return onnx_import::tensor_from_proto(proto, limits, "tensor '" + shown + "'");
}

Tensor load_tensor_file(const std::string& path, std::string* name) {
  std::string bytes = read_file(path);
  if (bytes.size() >= 6 && std::memcmp(bytes.data(), "\x93NUMPY", 6) == 0) {
    if (name) name->clear();
    return parse_npy(bytes, path);
  }
  try {
    return parse_tensor_proto(bytes.data(), bytes.size(), name);
  } catch (const Error& e) {
    throw Error(path + ": " + e.what());
  }
}

void save_tensor_pb(const std::string& path, const Tensor& t, const std::string& name) {
  onnx::TensorProto proto;
  onnx_import::tensor_to_proto(t, name, &proto);
  std::ofstream f(path, std::ios::binary);
  if (!f || !proto.SerializeToOstream(&f)) throw Error(path + ": cannot write");
}

}  // namespace kiln
