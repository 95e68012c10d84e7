// Fuses a residual Add into the epilogue of the Conv that produces one of its
// operands:   Add(Conv(x), z)  becomes  FusedConv(x, …, z)
// z must have the Conv output's shape (no broadcasting; where both have free
// dims the fused kernel checks at run time), the Conv's
// output no other reader, and the Conv no activation yet (act(conv) + z is
// not act(conv + z)). A following activation then fuses on top.
#include <algorithm>

#include "passes/fusion_util.h"

namespace kiln::passes {

namespace {

// The Add does not broadcast: every dim is known and equal on both sides, or
// free on both (then the kernel checks at run time and falls back to a
// broadcasting epilogue if they differ after all).
bool same_shape_or_both_free(const ir::Shape& a, const ir::Shape& b) {
  if (!a.known || !b.known || a.rank() != b.rank()) return false;
  for (size_t i = 0; i < a.rank(); ++i)
    if (a.dims[i] != b.dims[i]) return false;  // -1 == -1: both free
  return true;
}

bool try_fuse(PassContext& ctx, ir::Node* add) {
  if (add->op_type != "Add" || !add->domain.empty() || add->inputs.size() != 2) return false;
  std::string why;
  for (int side = 0; side < 2; ++side) {
    ir::Value* x = add->inputs[side];
    ir::Value* z = add->inputs[1 - side];
    ir::Node* p = x ? x->producer : nullptr;
    if (!p || epilogue_base(*p) != "Conv" || !z) continue;
    if (x->is_graph_output) why = "'" + x->name + "' is also a graph output";
    else if (x->consumers.size() != 1) why = "'" + x->name + "' has other readers";
    else if (has_activation(*p)) why = "Conv '" + p->name + "' already has an activation";
    else if (p->attr_int(ops::kResidualAttr, 0) != 0) why = "Conv '" + p->name + "' already has a residual";
    else if (x->dtype != DType::Float32 || z->dtype != DType::Float32) why = "not float32";
    else if (!same_shape_or_both_free(x->shape, z->shape))
      why = "the other operand's shape " + z->shape.str() + " may broadcast against the Conv output's " + x->shape.str();
    else if (z == x) why = "both operands are the Conv output";
    else {
      make_fused(*p);
      p->inputs.resize(std::max<size_t>(p->inputs.size(), 4), nullptr);  // an input map's scale, shift stay
      p->inputs[3] = z;
      set_attr(*p, ops::kResidualAttr, int64_t{3});
      p->outputs[0] = add->outputs[0];
      ctx.decide(*add, "fused into Conv '" + p->name + "'", "residual add applied in its epilogue");
      ctx.graph.remove_node(add);
      return true;
    }
  }
  if (!why.empty()) ctx.decide(*add, "kept", "cannot fuse the residual add: " + why);
  return false;
}

}  // namespace

bool fuse_residual_adds(PassContext& ctx) {
  return rewrite_each(ctx, [&](ir::Node* n) { return try_fuse(ctx, n); });
}

}  // namespace kiln::passes
