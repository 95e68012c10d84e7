// Which BatchNormalization nodes use batch statistics. Decided per node from
// the model (training_mode attribute in opset >= 14, the presence of the
// running-statistics outputs before that) unless the session's BatchNormMode
// overrides it; the session records an override on the node itself, so that
// the op and the passes read one answer.
#pragma once

#include "ir/graph.h"
#include "kiln/kiln.h"

namespace kiln::ops {

// Attribute the session sets on BN nodes when BatchNormMode is not Auto:
// 1 inference, 2 training. Not an ONNX attribute; never saved.
inline constexpr const char* kBatchNormModeAttr = "kiln.batchnorm_mode";

// What the model itself says.
bool batchnorm_training_by_model(const ir::Node& bn);
// What the node computes: the session's override, else the model.
bool batchnorm_is_training(const ir::Node& bn);
// Records `mode` on every BatchNormalization node of `graph`; returns one
// warning per node whose meaning the override changes.
std::vector<std::string> apply_batchnorm_mode(ir::Graph& graph, BatchNormMode mode);

}  // namespace kiln::ops
