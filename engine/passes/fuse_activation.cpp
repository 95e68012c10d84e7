// Fuses an activation into the epilogue of the Conv / ConvTranspose / Gemm /
// MatMul / BatchNormalization that produces its input:
//   P → act          becomes  Fused<P>(activation = act)
//   P → x·Sigmoid(x) becomes  Fused<P>(activation = SiLU)
// The producer's output must have no other reader and not be a graph output.
#include "passes/fusion_util.h"

namespace kiln::passes {

namespace {

// Why P's output x cannot take part in a fusion, or "" when it can. `readers`
// is how many nodes may read x (1 for act, 2 for the SiLU pair).
std::string blocker(const ir::Node& p, const ir::Value* x, size_t readers) {
  if (x->is_graph_output) return "'" + x->name + "' is also a graph output";
  if (x->consumers.size() != readers) return "'" + x->name + "' has other readers";
  if (x->dtype != DType::Float32) return "it is " + dtype_name(x->dtype) + ", not float32";
  if (has_activation(p)) return p.op_type + " '" + p.name + "' already has an activation";
  for (size_t i = 1; i < p.outputs.size(); ++i)
    if (p.outputs[i]) return p.op_type + " '" + p.name + "' has more than one output";
  return "";
}

bool try_activation(PassContext& ctx, ir::Node* act) {
  std::string name;
  float alpha, beta;
  if (!ops::epilogue_activation(*act, &name, &alpha, &beta)) return false;
  ir::Value* x = act->inputs[0];
  ir::Node* p = x ? x->producer : nullptr;
  if (!p || epilogue_base(*p).empty()) return false;
  std::string why = blocker(*p, x, 1);
  if (!why.empty()) {
    ctx.decide(*act, "kept", "cannot fuse into " + p->op_type + " '" + p->name + "': " + why);
    return false;
  }
  std::string base = epilogue_base(*p);
  make_fused(*p);
  set_attr(*p, ops::kActivationAttr, name);
  set_attr(*p, ops::kActivationAlphaAttr, alpha);
  set_attr(*p, ops::kActivationBetaAttr, beta);
  p->outputs[0] = act->outputs[0];
  ctx.decide(*act, "fused into " + base + " '" + p->name + "'", "applied in its epilogue");
  ctx.graph.remove_node(act);
  return true;
}

// x·Sigmoid(x) with x from a fusable producer.
bool try_silu(PassContext& ctx, ir::Node* mul) {
  if (mul->op_type != "Mul" || !mul->domain.empty() || mul->inputs.size() != 2) return false;
  for (int side = 0; side < 2; ++side) {
    ir::Value* x = mul->inputs[side];
    ir::Value* s = mul->inputs[1 - side];
    if (!x || !s || !s->producer) continue;
    ir::Node* sig = s->producer;
    if (sig->op_type != "Sigmoid" || !sig->domain.empty() || sig->inputs[0] != x) continue;
    ir::Node* p = x->producer;
    if (!p || epilogue_base(*p).empty()) continue;
    std::string why = blocker(*p, x, 2);
    if (why.empty() && (s->consumers.size() != 1 || s->is_graph_output)) why = "the Sigmoid output has other readers";
    if (!why.empty()) {
      ctx.decide(*mul, "kept", "cannot fuse x·Sigmoid(x) into " + p->op_type + " '" + p->name + "': " + why);
      return false;
    }
    std::string base = epilogue_base(*p);
    make_fused(*p);
    set_attr(*p, ops::kActivationAttr, std::string("SiLU"));
    p->outputs[0] = mul->outputs[0];
    ctx.decide(*sig, "fused into " + base + " '" + p->name + "'", "x·Sigmoid(x) (SiLU) applied in its epilogue");
    ctx.decide(*mul, "fused into " + base + " '" + p->name + "'", "x·Sigmoid(x) (SiLU) applied in its epilogue");
    ctx.graph.remove_node(mul);
    ctx.graph.remove_node(sig);
    return true;
  }
  return false;
}

}  // namespace

bool fuse_activations(PassContext& ctx) {
  return rewrite_each(ctx, [&](ir::Node* n) { return try_silu(ctx, n) || try_activation(ctx, n); });
}

}  // namespace kiln::passes
