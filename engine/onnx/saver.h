// IR → ONNX: writes an (optimized) graph as a standard ONNX model. kiln's
// fused ops are expanded back into standard ops (the base op, then Add for a
// residual, then the activation), folded weights become initializers.
#pragma once

#include <string>

#include "ir/graph.h"

namespace kiln::onnx_import {

// Serialized ModelProto bytes.
std::string serialize_model(const ir::Graph& graph);
void save_model(const ir::Graph& graph, const std::string& path);

}  // namespace kiln::onnx_import
