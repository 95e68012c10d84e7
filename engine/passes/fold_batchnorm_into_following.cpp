// Folds an inference-mode BatchNormalization into the Conv, Gemm or 2-D MatMul
// that reads its output (the "BN → weights" arrangement). With x̂ = s·x + t
// per input channel c:
//
//   Conv   W'[o, c, k…] = W[o, c, k…]·s[c],   b'[o] = b[o] + Σ_{c,k} W[o, c, k…]·t[c]
//          exact only without padding: a zero-padded border would become t[c]
//          instead of 0 after the fold, so padded convs are refused.
//   Gemm   (transA = 0)  B̃'[k, :] = s[k]·B̃[k, :],  C' = β·C + α·(tᵀ·B̃),  β' = 1
//   MatMul (A 2-D, B a constant [K, N]) becomes Gemm(X, B', tᵀ·B)
//
// For a grouped Conv, input channel c of W[o, c, …] is g·(Cin/g) + c with
// g = o / (Cout/g).
#include <functional>

#include "passes/batchnorm_affine.h"

namespace kiln::passes {

namespace {

bool conv_is_unpadded(const ir::Node& conv) {
  std::string pad = conv.attr_string("auto_pad", "NOTSET");
  if (pad == "SAME_UPPER" || pad == "SAME_LOWER") return false;
  for (int64_t p : conv.attr_ints("pads")) if (p != 0) return false;
  return true;
}

bool fold_into_conv(PassContext& ctx, ir::Node* bn, ir::Node* conv, const BatchNormAffine& a,
                    const std::function<bool(const std::string&)>& refuse) {
  if (!conv_is_unpadded(*conv))
    return refuse("it is zero-padded; after folding, the padded border would no longer map to zero");
  const Tensor* w = constant_f32(conv->inputs[1]);
  if (!w || w->rank() < 3) return refuse("its weight is not a float32 constant of rank >= 3");
  const Tensor* b = conv->has_input(2) ? constant_f32(conv->inputs[2]) : nullptr;
  if (conv->has_input(2) && !b) return refuse("its bias is not a float32 constant");
  int64_t group = conv->attr_int("group", 1);
  int64_t cout = w->shape()[0], cin_g = w->shape()[1];
  if (group < 1 || cout % group != 0 || cin_g * group != a.channels)
    return refuse("its input channels do not match the BN's " + std::to_string(a.channels));
  int64_t kernel = w->numel() / (cout * cin_g), cout_g = cout / group;
  Tensor w2 = fold_destination(*conv->inputs[1], *conv);
  Tensor b2 = Tensor::uninitialized(DType::Float32, {cout});
  const float* src = w->data_as<float>();
  float* dst = w2.data_as<float>();
  for (int64_t o = 0; o < cout; ++o) {
    double bias = b ? b->data_as<float>()[o] : 0.0;
    for (int64_t cl = 0; cl < cin_g; ++cl) {
      int64_t c = (o / cout_g) * cin_g + cl;
      for (int64_t k = 0; k < kernel; ++k) {
        int64_t idx = (o * cin_g + cl) * kernel + k;
        const double x = src[idx];  // read before dst[idx] (possibly the same float) is written
        dst[idx] = static_cast<float>(x * a.s[c]);
        bias += x * a.t[c];
      }
    }
    b2.data_as<float>()[o] = static_cast<float>(bias);
  }
  audit_subnormals(ctx, *bn, w2, "weights");
  conv->inputs.resize(3);
  conv->inputs[0] = bn->inputs[0];
  conv->inputs[1] = ctx.graph.add_constant(conv->name + ".folded_weight", std::move(w2));
  conv->inputs[2] = ctx.graph.add_constant(conv->name + ".folded_bias", std::move(b2));
  return true;
}

bool fold_into_gemm(PassContext& ctx, ir::Node* bn, ir::Node* mm, const BatchNormAffine& a,
                    const std::function<bool(const std::string&)>& refuse) {
  bool is_gemm = mm->op_type == "Gemm";
  if (mm->inputs[0] != bn->outputs[0]) return refuse("the BN output is not its first input");
  if (is_gemm && mm->attr_int("transA", 0) != 0) return refuse("transA is set");
  const ir::Value* x = bn->inputs[0];
  if (!x->shape.known || x->shape.rank() != 2)
    return refuse("the BN input is not 2-D, so BN's channel axis is not the product's K axis");
  const Tensor* b = constant_f32(mm->inputs[1]);
  if (!b || b->rank() != 2) return refuse("its second input is not a 2-D float32 constant");
  bool trans_b = is_gemm && mm->attr_int("transB", 0) != 0;
  int64_t k = trans_b ? b->shape()[1] : b->shape()[0];
  int64_t n = trans_b ? b->shape()[0] : b->shape()[1];
  if (k != a.channels) return refuse("its K is " + std::to_string(k) + ", not the BN's " + std::to_string(a.channels));
  double alpha = is_gemm ? mm->attr_float("alpha", 1.f) : 1.0;
  double beta = is_gemm ? mm->attr_float("beta", 1.f) : 0.0;
  const Tensor* c = nullptr;
  if (is_gemm && mm->has_input(2)) {
    c = constant_f32(mm->inputs[2]);
    if (!c) return refuse("its C is not a float32 constant");
    if (!gemm_c_per_column(c, n)) return refuse("its C has shape " + shape_to_string(c->shape()) + ", which varies along M");
  }
  Tensor b2 = fold_destination(*mm->inputs[1], *mm);
  Tensor c2 = Tensor::uninitialized(DType::Float32, {n});
  const float* src = b->data_as<float>();
  std::vector<double> tb(n, 0.0);
  for (int64_t i = 0; i < k; ++i)
    for (int64_t j = 0; j < n; ++j) {
      int64_t idx = trans_b ? j * k + i : i * n + j;
      const double x = src[idx];  // read before b2[idx] (possibly the same float) is written
      b2.data_as<float>()[idx] = static_cast<float>(x * a.s[i]);
      tb[j] += a.t[i] * x;
    }
  for (int64_t j = 0; j < n; ++j) {
    double cj = c ? c->data_as<float>()[c->numel() == 1 ? 0 : j] : 0.0;
    c2.data_as<float>()[j] = static_cast<float>(beta * cj + alpha * tb[j]);
  }
  audit_subnormals(ctx, *bn, b2, "weights");
  rewrite_as_gemm(ctx, mm, std::move(b2), std::move(c2));
  mm->inputs[0] = bn->inputs[0];
  return true;
}

bool try_fold(PassContext& ctx, ir::Node* bn) {
  ir::Value* y = bn->outputs.empty() ? nullptr : bn->outputs[0];
  if (!y || y->consumers.size() != 1) return false;
  ir::Node* next = y->consumers[0];
  if (!next->domain.empty() || (next->op_type != "Conv" && next->op_type != "Gemm" && next->op_type != "MatMul"))
    return false;
  const std::string target = next->op_type + " '" + next->name + "'";
  // The fold into the producer ran first; when it refused too, say both.
  auto refuse = [&](const std::string& reason) {
    std::string mine = "cannot fold into the following " + target + ": " + reason;
    std::string earlier = ctx.reason_for(*bn);
    if (earlier.find(mine) != std::string::npos) return false;
    ctx.decide(*bn, "kept", earlier.empty() || earlier.rfind("cannot fold", 0) != 0 ? mine : earlier + "; " + mine);
    return false;
  };
  if (y->is_graph_output) return refuse("the BN output is also a graph output");
  std::string why;
  BatchNormAffine a;
  if (!batchnorm_affine(ctx, *bn, &a, &why)) return refuse(why);
  if (next->inputs.empty() || next->inputs[0] != y) return refuse("the BN output is not its data input");
  bool ok = next->op_type == "Conv" ? fold_into_conv(ctx, bn, next, a, refuse) : fold_into_gemm(ctx, bn, next, a, refuse);
  if (!ok) return false;
  ctx.decide(*bn, "folded into the following " + target,
             next->op_type == "Conv" ? "weights scaled per input channel, shift moved into the bias"
                                     : "rows of B scaled, shift moved into C");
  ctx.graph.remove_node(bn);
  return true;
}

}  // namespace

bool fold_batchnorm_into_following(PassContext& ctx) {
  return rewrite_each(ctx, [&](ir::Node* n) {
    if (n->op_type != "BatchNormalization" || !n->domain.empty()) return false;
    return try_fold(ctx, n);
  });
}

}  // namespace kiln::passes
