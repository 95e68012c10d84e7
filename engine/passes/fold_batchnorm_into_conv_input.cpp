// Folds a standalone inference BatchNormalization, with the Relu fused into
// it or none, into the input of the 1×1 convolution that reads it:
//
//   Conv1×1(Relu(BN(x)))  becomes  FusedConv(x, …) with kiln.prologue = Relu
//
// The BN's per-channel map s·x + t (and the Relu) is then applied to X as the
// convolution's GEMM packs it (ops/fused.h), so the mapped tensor is never
// written out and read back. This is DenseNet's pre-activation pattern:
// every dense layer normalizes the growing concatenation of the block's
// features and feeds it through a Relu into a 1×1 convolution, and the Relu
// keeps the BN from folding into that convolution's weights
// (fold_batchnorm_into_following handles a BN with no Relu).
//
// Only 1×1 convolutions with stride 1 and no padding: padding would need the
// map to leave the zero border alone, and other shapes have no packing of X
// to apply it in (the convolution would map X into scratch first: no gain).
#include "passes/batchnorm_affine.h"
#include "passes/fusion_util.h"

namespace kiln::passes {

namespace {

bool try_fold(PassContext& ctx, ir::Node* bn) {
  // A plain BN in front of a Conv folds into its weights
  // (fold_batchnorm_into_following); this takes the one with a Relu fused.
  if (bn->op_type != "FusedBatchNormalization" || bn->domain != ops::kKilnDomain) return false;
  ir::Value* y = bn->outputs.empty() ? nullptr : bn->outputs[0];
  if (!y || y->consumers.size() != 1 || y->is_graph_output) return false;
  ir::Node* conv = y->consumers[0];
  if (epilogue_base(*conv) != "Conv" || conv->has_attr(ops::kPrologueAttr)) return false;
  if (conv->inputs.empty() || conv->inputs[0] != y) return false;
  for (size_t i = 1; i < conv->inputs.size(); ++i)
    if (conv->inputs[i] == y) return false;
  const std::string target = "Conv '" + conv->name + "'";
  auto refuse = [&](const std::string& reason) {
    const std::string earlier = ctx.reason_for(*bn);
    const std::string mine = "cannot fold into the input of " + target + ": " + reason;
    if (earlier.find(mine) == std::string::npos)
      ctx.decide(*bn, "kept", earlier.empty() ? mine : earlier + "; " + mine);
    return false;
  };
  const ops::FusedEpilogue e = ops::FusedEpilogue::of(*bn);
  if (e.residual_input) return refuse("the BN has a residual add");
  if (e.kind != ops::FusedEpilogue::None && e.kind != ops::FusedEpilogue::Relu)
    return refuse("its activation is not Relu");
  std::string why;
  if (!conv_is_pointwise(*conv, &why, 4)) return refuse(why);
  if (y->dtype != DType::Float32) return refuse("not float32");
  BatchNormAffine a;
  if (!batchnorm_affine(ctx, *bn, &a, &why)) return refuse(why);
  const ir::Value* x = bn->inputs[0];
  if (!x->shape.known || x->shape.rank() != 4 || (x->shape.dims[1] >= 0 && x->shape.dims[1] != a.channels))
    return refuse("the BN input is not NCHW with the BN's " + std::to_string(a.channels) + " channels");

  Tensor scale = Tensor::uninitialized(DType::Float32, {a.channels});
  Tensor shift = Tensor::uninitialized(DType::Float32, {a.channels});
  for (int64_t c = 0; c < a.channels; ++c) {
    scale.data_as<float>()[c] = static_cast<float>(a.s[static_cast<size_t>(c)]);
    shift.data_as<float>()[c] = static_cast<float>(a.t[static_cast<size_t>(c)]);
  }
  audit_subnormals(ctx, *bn, scale, "input scale");
  make_fused(*conv);
  conv->inputs.resize(4, nullptr);  // the residual's place (kept when there is one), then the map's
  conv->inputs.push_back(ctx.graph.add_constant(conv->name + ".input_scale", std::move(scale)));
  conv->inputs.push_back(ctx.graph.add_constant(conv->name + ".input_shift", std::move(shift)));
  set_attr(*conv, ops::kPrologueAttr, std::string(e.kind == ops::FusedEpilogue::Relu ? "Relu" : "None"));
  conv->inputs[0] = bn->inputs[0];
  ctx.decide(*bn, "folded into the input of " + target,
             std::string("its per-channel map") + (e.kind == ops::FusedEpilogue::Relu ? " and Relu" : "") +
                 " applied to X as the convolution packs it");
  ctx.graph.remove_node(bn);
  return true;
}

}  // namespace

bool fold_batchnorm_into_conv_input(PassContext& ctx) {
  return rewrite_each(ctx, [&](ir::Node* n) { return try_fold(ctx, n); });
}

}  // namespace kiln::passes
