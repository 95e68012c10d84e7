// Constant folding: a node whose inputs are all constant is evaluated once at
// load with its reference kernel; its outputs become constants.
#include "ops/op.h"
#include "passes/pass.h"

namespace kiln::passes {

namespace {
// Do not materialise huge constants (ConstantOfShape of a big shape, say):
// computing them at run time costs less memory.
constexpr int64_t kMaxFoldedElements = int64_t{1} << 22;
}  // namespace

bool fold_constants(PassContext& ctx) {
  const auto& registry = ops::OpRegistry::instance();
  bool changed = false;
  std::vector<ir::Node*> order = ctx.graph.order();
  for (ir::Node* n : order) {
    if (n->inputs.empty()) continue;
    bool all_constant = true;
    for (ir::Value* v : n->inputs) all_constant = all_constant && (!v || v->constant);
    if (!all_constant) continue;
    bool small = true;
    for (ir::Value* v : n->outputs) {
      if (!v) continue;
      if (!v->shape.fully_known()) {
        small = false;
        continue;
      }
      // An element count that overflows is not small; the session refuses it later.
      try {
        if (checked_numel(v->shape.dims) > kMaxFoldedElements) small = false;
      } catch (const Error&) {
        small = false;
      }
    }
    if (!small) continue;
    const ops::OpSchema* schema = registry.find(n->domain, n->op_type, n->opset);
    if (!schema) continue;
    std::vector<const Tensor*> in;
    for (ir::Value* v : n->inputs) in.push_back(v ? &*v->constant : nullptr);
    std::vector<Tensor> out(n->outputs.size());
    ops::ComputeContext cc(*n, in, out, 1);
    schema->compute(cc);
    for (size_t i = 0; i < n->outputs.size(); ++i) {
      ir::Value* v = n->outputs[i];
      if (!v) continue;
      v->shape = ir::Shape::of(out[i].shape());
      v->constant = std::move(out[i]);
    }
    ctx.decide(*n, "evaluated at load", "all inputs are constant");
    ++ctx.report.constants_folded;
    ctx.graph.remove_node(n);
    changed = true;
  }
  return changed;
}

}  // namespace kiln::passes
