#include "ops/fast_gemm.h"

#include <algorithm>


#include "kernels/simd/gemm_driver.h"
#include "kernels/simd/gemv.h"
#include "ops/fused.h"
#include "runtime/parallel.h"

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

bool gemv_eligible(const simd::SgemmProblem& p) {
  if (p.K < 1 || p.im2col || p.a_im2col || p.trans_c || p.b_scale) return false;
  if (p.M == 1 && p.packed_b) return true;
  return p.N == 1 && p.packed_a && p.ldc == 1 && (!p.ep.residual || p.ep.ld_residual == 1);
}

namespace {

// Multiply-adds per thread below which the GEMV stays on one thread.
constexpr int64_t kGemvMinTaskWork = int64_t{1} << 15;

// This thread's GEMV workspace (simd::ScratchLease).
thread_local simd::ThreadScratch t_gemv_ws;

}  // namespace

bool run_sgemm(const simd::SgemmProblem& p, bool threaded) {
  if (!gemv_eligible(p)) {
    simd::sgemm(p, threaded);
    return false;
  }
  const simd::GemmBlocking& bl = simd::gemm_blocking();
  simd::GemvProblem g;
  g.M = p.M;
  g.N = p.N;
  g.K = p.K;
  g.y = p.c;
  g.ep = p.ep;
  g.bl = bl;
  const bool rows = !(p.M == 1 && p.packed_b);  // N = 1: outputs along m
  g.along_m = rows;
  g.packed = rows ? p.packed_a : p.packed_b;
  // The vector: row 0 of A' (M = 1) or column 0 of B' (N = 1), gathered when strided.
  const float* src = rows ? p.b : p.a;
  const int64_t inc = rows ? (p.trans_b ? 1 : p.ldb) : (p.trans_a ? p.lda : 1);
  std::vector<float> gathered;
  if (inc == 1) {
    g.x = src;
  } else {
    gathered.resize(static_cast<size_t>(p.K));
    for (int64_t k = 0; k < p.K; ++k) gathered[static_cast<size_t>(k)] = src[k * inc];
    g.x = gathered.data();
  }
  const int64_t outputs = rows ? p.M : p.N, width = rows ? bl.mr : bl.nr;
  const int64_t panels = (outputs + width - 1) / width;
  const int64_t threads = threaded ? runtime::concurrency() : 1;
  const int64_t per_panel = width * p.K;
  const int64_t grain = threads <= 1 ? panels : std::max<int64_t>(1, kGemvMinTaskWork / std::max<int64_t>(per_panel, 1));
  auto compute = simd::dispatch(simd::sgemv_compute{});
  const int64_t ws = simd::gemv_workspace_floats(bl);
  runtime::parallel_for(panels, grain, [&](int64_t b, int64_t e) {
    const simd::ScratchLease lease(t_gemv_ws, ws);
    compute(g, b * width, std::min(outputs, e * width), lease.data());
  });
  return true;
}

const char* sgemm_kernel_name(const simd::SgemmProblem& p, const char* sgemm_prefix) {
  return simd::gemm_kernel_name(gemv_eligible(p) ? "gemv" : sgemm_prefix);
}

}  // namespace kiln::ops
