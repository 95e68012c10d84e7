// Identity, inference-mode Dropout and a Pad that adds nothing (every pad
// 0; PyTorch exports one in front of some average pools) pass their input
// through: readers of the output read the input instead and the node goes
// away.
#include "passes/pass.h"

namespace kiln::passes {

namespace {

// Pad whose pads are all zero, whatever its mode and axes.
bool pads_nothing(const ir::Node& n) {
  if (n.opset > 0 && n.opset < 11) {
    if (!n.has_attr("pads")) return false;
    for (int64_t p : n.attr_ints("pads"))
      if (p != 0) return false;
    return true;
  }
  if (!n.has_input(1) || !n.inputs[1]->constant) return false;
  const Tensor& pads = *n.inputs[1]->constant;
  if (pads.dtype() != DType::Int64) return false;
  for (int64_t i = 0; i < pads.numel(); ++i)
    if (pads.data_as<int64_t>()[i] != 0) return false;
  return true;
}

bool is_passthrough(const ir::Node& n, std::string* why_not) {
  if (!n.domain.empty()) return false;
  if (n.op_type == "Identity") return true;
  if (n.op_type == "Pad") return pads_nothing(n);
  if (n.op_type != "Dropout") return false;
  if (n.has_output(1) && !n.outputs[1]->consumers.empty()) {
    *why_not = "its mask output is used";
    return false;
  }
  if (n.has_output(1) && n.outputs[1]->is_graph_output) {
    *why_not = "its mask output is a graph output";
    return false;
  }
  if (n.has_input(2)) {  // training_mode (opset 12+)
    const ir::Value* t = n.inputs[2];
    if (!t->constant) {
      *why_not = "training_mode is not a constant";
      return false;
    }
    if (t->constant->numel() == 1 && *static_cast<const uint8_t*>(t->constant->data()) != 0) {
      *why_not = "training_mode is true";
      return false;
    }
  }
  return true;
}

}  // namespace

bool remove_identities(PassContext& ctx) {
  return rewrite_each(ctx, [&](ir::Node* n) {
    std::string why_not;
    if (!is_passthrough(*n, &why_not)) {
      if (!why_not.empty()) ctx.decide(*n, "kept", why_not);
      return false;
    }
    if (!n->has_input(0) || !n->has_output(0)) return false;
    ir::Value* in = n->inputs[0];
    ir::Value* out = n->outputs[0];
    if (out->is_graph_output) {
      // The output's name is part of the interface: let the input's producer
      // write it directly, when that changes nothing else.
      if (!in->producer || in->is_graph_output || in->is_graph_input) {
        ctx.decide(*n, "kept", "it copies a graph input or output to a graph output");
        return false;
      }
      for (ir::Value*& o : in->producer->outputs)
        if (o == in) o = out;
      ctx.graph.replace_uses(in, out);
    } else {
      ctx.graph.replace_uses(out, in);
    }
    ctx.decide(*n, "removed",
               n->op_type == "Identity" ? "identity"
               : n->op_type == "Pad"    ? "every pad is 0"
                                        : "dropout is the identity at inference");
    ctx.graph.remove_node(n);
    return true;
  });
}

}  // namespace kiln::passes
