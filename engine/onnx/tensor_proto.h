// onnx.TensorProto → kiln::Tensor, including external data.
#pragma once

#include <string>

#include "kiln/kiln.h"

namespace onnx {
class TensorProto;
}

namespace kiln::onnx_import {

struct TensorLimits {
  uint64_t max_tensor_elements = uint64_t{1} << 34;
  int max_rank = 16;
  // Model folder for external data; empty means external data is refused.
  std::string base_dir;
  // Running total of bytes read, checked against max_total_bytes.
  uint64_t* total_bytes = nullptr;
  uint64_t max_total_bytes = ~uint64_t{0};
};

// `where` names the tensor in errors, e.g. "initializer 'conv1.weight'".
Tensor tensor_from_proto(const onnx::TensorProto& proto, const TensorLimits& limits, const std::string& where);
void tensor_to_proto(const Tensor& t, const std::string& name, onnx::TensorProto* proto);

}  // namespace kiln::onnx_import
