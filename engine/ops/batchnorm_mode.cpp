#include "ops/batchnorm_mode.h"

namespace kiln::ops {

bool batchnorm_training_by_model(const ir::Node& bn) {
  if (bn.opset >= 14) return bn.attr_int("training_mode", 0) != 0;
  for (size_t i = 1; i < bn.outputs.size(); ++i)
    if (bn.outputs[i]) return true;
  return false;
}

bool batchnorm_is_training(const ir::Node& bn) {
  int64_t mode = bn.attr_int(kBatchNormModeAttr, 0);
  if (mode == 1) return false;
  if (mode == 2) return true;
  return batchnorm_training_by_model(bn);
}

std::vector<std::string> apply_batchnorm_mode(ir::Graph& graph, BatchNormMode mode) {
  std::vector<std::string> warnings;
  if (mode == BatchNormMode::Auto) return warnings;
  for (const auto& n : graph.nodes()) {
    if (n->op_type != "BatchNormalization" || !n->domain.empty()) continue;
    bool model_training = batchnorm_training_by_model(*n);
    ir::Attribute a;
    a.kind = ir::Attribute::Kind::Int;
    a.i = mode == BatchNormMode::Inference ? 1 : 2;
    n->attributes[kBatchNormModeAttr] = a;
    if (mode == BatchNormMode::Inference && model_training)
      warnings.push_back("BatchNormalization '" + n->name +
                         "' is in training mode in the model; --bn-mode inference makes it use its running statistics");
  }
  return warnings;
}

}  // namespace kiln::ops
