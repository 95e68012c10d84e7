// ONNX protobuf → IR. The only part of kiln that includes protobuf headers
// (together with tensor_proto.cpp and tensor_io.cpp beside it).
#pragma once

#include <memory>
#include <string>

#include "ir/graph.h"
#include "kiln/kiln.h"

namespace kiln::onnx_import {

// Loads a model file; external data is resolved inside the file's folder.
std::unique_ptr<ir::Graph> load_model_file(const std::string& path, const SessionOptions& options);
// Loads serialized ModelProto bytes. `base_dir` may be empty, in which case a
// model with external data is refused. `source` names the model in errors.
std::unique_ptr<ir::Graph> load_model_bytes(const void* data, size_t size, const std::string& base_dir,
                                            const SessionOptions& options, const std::string& source);

}  // namespace kiln::onnx_import
