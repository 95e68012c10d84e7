// Reading and writing tensors in the formats test data comes in:
// a serialized onnx.TensorProto (.pb) and NumPy's .npy.
#pragma once

#include <string>

#include "kiln/kiln.h"

namespace kiln {

// A tensor from a .pb (TensorProto) or .npy file, chosen by the file's contents.
// `name`, when non-null, receives the TensorProto's name (empty for .npy).
Tensor load_tensor_file(const std::string& path, std::string* name = nullptr);
// A tensor from a serialized TensorProto held in memory.
Tensor parse_tensor_proto(const void* data, size_t size, std::string* name = nullptr);
// Writes a TensorProto (.pb) file with raw_data.
void save_tensor_pb(const std::string& path, const Tensor& t, const std::string& name = "");

}  // namespace kiln
