// Folds an inference-mode BatchNormalization into the Gemm or 2-D MatMul that
// produces its input, when BN's channel axis (1) is the product's N axis:
//
//   Gemm   Y = α·A·B̃ + β·C   (B̃ = Bᵀ when transB)
//          B̃'[:, n] = s[n]·B̃[:, n],   C' = s·β·C + t  broadcast to [N],  β' = 1
//   MatMul Y = A·B  (A 2-D, B a constant [K, N]) becomes Gemm(A, B', C' = t)
//
// C must be absent, a scalar, [N] or [1, N]: other shapes vary along M, which
// no per-column fold can express.
#include "passes/batchnorm_affine.h"

namespace kiln::passes {

namespace {

bool try_fold(PassContext& ctx, ir::Node* bn) {
  std::string why;
  ir::Node* mm = bn->inputs.empty() || !bn->inputs[0] ? nullptr : bn->inputs[0]->producer;
  if (!mm) return false;  // the standalone-BN step explains it
  bool is_gemm = mm->op_type == "Gemm";
  if (!mm->domain.empty() || (!is_gemm && mm->op_type != "MatMul")) return false;
  const std::string target = mm->op_type + " '" + mm->name + "'";
  auto refuse = [&](const std::string& reason) {
    ctx.decide(*bn, "kept", "cannot fold into " + target + ": " + reason);
    return false;
  };
  if (!sole_producer(*bn, &why)) return refuse(why);
  BatchNormAffine a;
  if (!batchnorm_affine(ctx, *bn, &a, &why)) return refuse(why);
  const ir::Value* y = mm->outputs[0];
  if (!y->shape.known || y->shape.rank() != 2)
    return refuse("BN's channel axis is not " + mm->op_type + "'s last axis (output rank is " +
                  (y->shape.known ? std::to_string(y->shape.rank()) : std::string("unknown")) + ", not 2)");
  if (!is_gemm && (!mm->inputs[0]->shape.known || mm->inputs[0]->shape.rank() != 2))
    return refuse("its first input is not 2-D");
  const Tensor* b = constant_f32(mm->inputs[1]);
  if (!b) return refuse("its second input is not a float32 constant");
  if (b->rank() != 2) return refuse("its second input is not 2-D");
  bool trans_b = is_gemm && mm->attr_int("transB", 0) != 0;
  int64_t n = trans_b ? b->shape()[0] : b->shape()[1];
  int64_t k = trans_b ? b->shape()[1] : b->shape()[0];
  if (n != a.channels)
    return refuse("its N is " + std::to_string(n) + " but the BN has " + std::to_string(a.channels) + " channels");
  double beta = is_gemm ? mm->attr_float("beta", 1.0f) : 0.0;
  const Tensor* c = nullptr;
  if (is_gemm && mm->has_input(2)) {
    c = constant_f32(mm->inputs[2]);
    if (!c) return refuse("its C is not a float32 constant");
    if (!gemm_c_per_column(c, n)) return refuse("its C has shape " + shape_to_string(c->shape()) + ", which varies along M");
  }

  Tensor b2 = fold_destination(*mm->inputs[1], *mm);
  const float* src = b->data_as<float>();
  float* dst = b2.data_as<float>();
  for (int64_t i = 0; i < k; ++i)
    for (int64_t j = 0; j < n; ++j) {
      int64_t idx = trans_b ? j * k + i : i * n + j;
      dst[idx] = static_cast<float>(a.s[j] * src[idx]);
    }
  Tensor c2 = Tensor::uninitialized(DType::Float32, {n});
  for (int64_t j = 0; j < n; ++j) {
    double cj = c ? c->data_as<float>()[c->numel() == 1 ? 0 : j] : 0.0;
    c2.data_as<float>()[j] = static_cast<float>(a.s[j] * beta * cj + a.t[j]);
  }
  audit_subnormals(ctx, *bn, b2, "weights");
  audit_subnormals(ctx, *bn, c2, "biases");

  const bool was_gemm = is_gemm;
  rewrite_as_gemm(ctx, mm, std::move(b2), std::move(c2));
  ctx.decide(*bn, "folded into " + target, was_gemm ? "columns of B and C scaled" : "MatMul became Gemm with scaled B and a bias");
  absorb_batchnorm(ctx, mm, bn);
  return true;
}

}  // namespace

bool fold_batchnorm_into_gemm(PassContext& ctx) {
  return rewrite_each(ctx, [&](ir::Node* n) {
    if (n->op_type != "BatchNormalization" || !n->domain.empty()) return false;
    return try_fold(ctx, n);
  });
}

}  // namespace kiln::passes
