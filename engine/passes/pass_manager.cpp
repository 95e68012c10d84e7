#include "ops/batchnorm_mode.h"
#include "ops/fused.h"
#include "passes/pass.h"

namespace kiln::passes {

void PassContext::decide(const ir::Node& node, const std::string& action, const std::string& reason) {
  // A fused node is reported under its base op's name.
  std::string op = ops::fused_base_op(node);
  if (op.empty()) op = node.op_type;
  FusionDecision d{node.name, op, action, reason};
  auto it = decision_index_.find(node.name);
  if (it == decision_index_.end()) {
    decision_index_[node.name] = report.decisions.size();
    report.decisions.push_back(std::move(d));
  } else {
    report.decisions[it->second] = std::move(d);
  }
}

void PassContext::warn(const std::string& message) {
  for (const auto& w : report.warnings)
    if (w == message) return;
  report.warnings.push_back(message);
}

bool rewrite_each(PassContext& ctx, const std::function<bool(ir::Node*)>& try_rewrite) {
  bool changed = false;
  for (bool again = true; again;) {
    again = false;
    for (ir::Node* n : ctx.graph.order()) {
      if (try_rewrite(n)) {
        ctx.graph.finalize();
        changed = again = true;
        break;
      }
    }
  }
  return changed;
}

FusionReport run_passes(ir::Graph& graph, const SessionOptions& options) {
  PassContext ctx{graph};
  ctx.report.enabled = true;
  for (const auto& n : graph.nodes())
    if (n->op_type == "BatchNormalization" && n->domain.empty()) ++ctx.report.batchnorm_nodes;

  // Order matters within one round: constants first so that BN parameters
  // computed by Constant/shape arithmetic become foldable.
  using Pass = bool (*)(PassContext&);
  const Pass passes[] = {fold_constants, remove_identities, fold_batchnorm_into_conv, fold_batchnorm_into_gemm,
                         fold_batchnorm_into_following, pool_before_pointwise_conv,
                         fuse_residual_adds, fuse_activations, fold_batchnorm_into_conv_input};
  for (int round = 0; round < 100; ++round) {
    bool changed = false;
    for (Pass p : passes) {
      graph.finalize();
      if (p(ctx)) changed = true;
    }
    if (!changed) break;
  }
  graph.prune();
  graph.finalize();
  // BatchNormalization nodes no pass could fold run as one per-channel affine
  // pass (or with batch statistics in training mode).
  for (const ir::Node* n : graph.order()) {
    bool bn = (n->op_type == "BatchNormalization" && n->domain.empty()) ||
              (n->op_type == "FusedBatchNormalization" && n->domain == ops::kKilnDomain);
    if (!bn || ctx.has_decision(*n)) continue;
    if (ops::batchnorm_is_training(*n)) {
      ctx.decide(*n, "kept", "training mode: it normalizes with batch statistics");
      continue;
    }
    const ir::Value* x = n->inputs.empty() ? nullptr : n->inputs[0];
    std::string from = !x ? "nothing" : x->producer ? x->producer->op_type + " '" + x->producer->name + "'"
                                      : x->is_graph_input ? "graph input '" + x->name + "'" : "a constant";
    ctx.decide(*n, "kept", "runs as a per-channel affine" +
                               std::string(n->domain.empty() ? "" : " with its activation fused") +
                               ": its input comes from " + from + ", which BN cannot fold into");
  }
  for (const auto& d : ctx.report.decisions)
  {
    bool fused = d.action.rfind("fused", 0) == 0;
    if (d.op == "BatchNormalization" && d.action.rfind("folded", 0) == 0) ++ctx.report.batchnorm_folded;
    else if (fused && d.op == "Add") ++ctx.report.fused_adds;
    else if (fused && d.op != "Mul") ++ctx.report.fused_activations;  // SiLU counts once, as its Sigmoid
  }
  return ctx.report;
}

}  // namespace kiln::passes
