// Folds an inference-mode BatchNormalization into the Conv or ConvTranspose
// that produces its input (see batchnorm_affine.h for s and t):
//
//   Conv          W[Cout, Cin/g, k…]:   W'[o,…] = s[o]·W[o,…]
//   ConvTranspose W[Cin, Cout/g, k…]:   output channel of W[i, j, …] is
//                 o = (i / (Cin/g))·(Cout/g) + j;  W'[i, j, …] = s[o]·W[i, j, …]
//   both:         b'[o] = s[o]·b[o] + t[o]   (b = 0 when absent)
//
// New weights are new constants: a weight shared with another node stays
// untouched for it (one read by this node alone is overwritten in place).
#include "passes/batchnorm_affine.h"

namespace kiln::passes {

namespace {

bool try_fold(PassContext& ctx, ir::Node* bn) {
  std::string why;
  ir::Node* conv = bn->inputs.empty() || !bn->inputs[0] ? nullptr : bn->inputs[0]->producer;
  if (!conv) return false;  // the standalone-BN step explains it
  bool transpose = conv->op_type == "ConvTranspose";
  if (!conv->domain.empty() || (conv->op_type != "Conv" && !transpose)) return false;
  const std::string target = conv->op_type + " '" + conv->name + "'";
  auto refuse = [&](const std::string& reason) {
    ctx.decide(*bn, "kept", "cannot fold into " + target + ": " + reason);
    return false;
  };
  if (!sole_producer(*bn, &why)) return refuse(why);
  BatchNormAffine a;
  if (!batchnorm_affine(ctx, *bn, &a, &why)) return refuse(why);
  const Tensor* w = constant_f32(conv->inputs.size() > 1 ? conv->inputs[1] : nullptr);
  if (!w) return refuse("its weight is not a float32 constant");
  if (w->rank() < 3) return refuse("its weight has rank " + std::to_string(w->rank()));
  const Tensor* b = nullptr;
  if (conv->has_input(2)) {
    b = constant_f32(conv->inputs[2]);
    if (!b) return refuse("its bias is not a float32 constant");
  }
  int64_t group = conv->attr_int("group", 1);
  int64_t cout = transpose ? w->shape()[1] * group : w->shape()[0];
  if (cout != a.channels)
    return refuse("it has " + std::to_string(cout) + " output channels but the BN has " + std::to_string(a.channels));
  if (b && b->numel() != cout) return refuse("its bias does not have one value per output channel");
  if (group < 1 || (transpose && w->shape()[0] % group != 0)) return refuse("invalid group");

  Tensor w2 = fold_destination(*conv->inputs[1], *conv);
  const float* src = w->data_as<float>();
  float* dst = w2.data_as<float>();
  int64_t per_row = w->numel() / w->shape()[0];  // elements of W[i, …]
  if (!transpose) {
    for (int64_t o = 0; o < cout; ++o)
      for (int64_t k = 0; k < per_row; ++k)
        dst[o * per_row + k] = static_cast<float>(a.s[o] * src[o * per_row + k]);
  } else {
    int64_t cin = w->shape()[0], cin_g = cin / group, cout_g = w->shape()[1];
    int64_t kernel = per_row / cout_g;
    for (int64_t i = 0; i < cin; ++i)
      for (int64_t j = 0; j < cout_g; ++j) {
        double s = a.s[(i / cin_g) * cout_g + j];
        for (int64_t k = 0; k < kernel; ++k) {
          int64_t idx = (i * cout_g + j) * kernel + k;
          dst[idx] = static_cast<float>(s * src[idx]);
        }
      }
  }
  Tensor b2 = Tensor::uninitialized(DType::Float32, {cout});
  for (int64_t o = 0; o < cout; ++o)
    b2.data_as<float>()[o] = static_cast<float>(a.s[o] * (b ? b->data_as<float>()[o] : 0.0) + a.t[o]);
  audit_subnormals(ctx, *bn, w2, "weights");
  audit_subnormals(ctx, *bn, b2, "biases");

  ir::Value* wv = ctx.graph.add_constant(conv->name + ".folded_weight", std::move(w2));
  ir::Value* bv = ctx.graph.add_constant(conv->name + ".folded_bias", std::move(b2));
  conv->inputs.resize(3);
  conv->inputs[1] = wv;
  conv->inputs[2] = bv;
  ctx.decide(*bn, "folded into " + target, "weights and bias scaled per output channel");
  absorb_batchnorm(ctx, conv, bn);
  return true;
}

}  // namespace

bool fold_batchnorm_into_conv(PassContext& ctx) {
  return rewrite_each(ctx, [&](ir::Node* n) {
    if (n->op_type != "BatchNormalization" || !n->domain.empty()) return false;
    return try_fold(ctx, n);
  });
}

}  // namespace kiln::passes
