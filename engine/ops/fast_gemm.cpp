#include "ops/fast_gemm.h"

#include "ops/fused.h"

namespace kiln::ops {

bool gemm_fused_epilogue(const ComputeContext& ctx, const std::vector<int64_t>& y_shape, simd::GemmEpilogue* ep) {
  const ir::Node& n = ctx.node();
  if (n.domain != kKilnDomain) return false;
  const FusedEpilogue f = FusedEpilogue::of(n);
  const Tensor* z = ctx.residual();
  if (f.residual_input && (!z || z->dtype() != DType::Float32 || z->shape() != y_shape)) return false;
  static_assert(static_cast<int>(FusedEpilogue::SiLU) == static_cast<int>(simd::GemmActivation::SiLU));
  ep->act = static_cast<simd::GemmActivation>(static_cast<int>(f.kind));  // the two enums list the same kinds in order
  ep->act_alpha = f.alpha;
  ep->act_beta = f.beta;
  ep->residual = f.residual_input ? z->data_as<float>() : nullptr;
  ep->ld_residual = y_shape.empty() ? 1 : y_shape.back();
  return true;
}

}  // namespace kiln::ops
