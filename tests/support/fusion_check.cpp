#include "support/fusion_check.h"

#include "onnx/loader.h"
#include "ops/batchnorm_mode.h"
#include "runtime/prepare.h"
#include "support/test_util.h"

namespace kiln::test {

int FusionResult::count(const std::string& op_type) const {
  int c = 0;
  for (const auto& n : graph->nodes()) c += n->op_type == op_type;
  return c;
}

std::string FusionResult::action(const std::string& name) const {
  for (const auto& d : report.decisions)
    if (d.node == name) return d.action;
  return "";
}

std::string FusionResult::reason(const std::string& name) const {
  for (const auto& d : report.decisions)
    if (d.node == name) return d.reason;
  return "";
}

FusionResult check_fusion(const ModelBuilder& model, const SessionOptions& base) {
  SessionOptions fused_opt = base, unfused_opt = base;
  fused_opt.fusion = true;
  unfused_opt.fusion = false;
  Session fused = model.session(fused_opt);
  Session unfused = model.session(unfused_opt);

  std::vector<Tensor> inputs;
  uint32_t seed = 1;
  for (const TensorInfo& info : fused.inputs()) {
    std::vector<int64_t> shape = info.shape;
    for (int64_t& d : shape)
      if (d < 0) d = 2;
    inputs.push_back(random_f32(shape, seed++));
  }
  auto a = fused.run(inputs);
  auto b = unfused.run(inputs);
  FusionResult r;
  r.report = fused.fusion_report();
  for (size_t i = 0; i < a.size(); ++i) r.max_abs_diff = std::max(r.max_abs_diff, max_abs_diff(a[i], b[i]));

  std::string bytes = model.bytes();
  r.graph = onnx_import::load_model_bytes(bytes.data(), bytes.size(), "", base, "test");
  ops::apply_batchnorm_mode(*r.graph, base.batchnorm_mode);
  runtime::prepare_graph(*r.graph);
  passes::run_passes(*r.graph, fused_opt);
  return r;
}

}  // namespace kiln::test
