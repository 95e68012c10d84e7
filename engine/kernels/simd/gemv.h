// Matrix-vector products on the packed SGEMM's weights (gemm.h), for the
// GEMM shapes with one row or one column:
//   M = 1:  y[n] = ep( Σ_k x[k] · B'[k, n] )   B' packed by sgemm_pack_b
//   N = 1:  y[m] = ep( Σ_k A'[m, k] · x[k] )   A' packed by sgemm_pack_a
// with ep the SGEMM's epilogue (GemmEpilogue: alpha·acc (+ C) + row bias +
// column bias + residual, then the activation). The packed micro-panels are
// already the layout a GEMV wants — k-major runs of nr (or mr) outputs — so
// the weights packed once at session creation serve both kernels and no
// copy is made per call.
//
//  - M = 1: per panel of nr outputs, nr/width vector accumulators (two sets,
//    even and odd k) take x[k]·panel[k, :]: no horizontal sums.
//  - N = 1: a panel of mr rows is kb × mr floats, k-major; it is read as one
//    flat run P[j] (row j mod mr, depth j / mr) against xe[j] = x[j / mr] (x
//    expanded once per K block and shared by every panel), with accumulators
//    whose lanes are folded by row at the end of the block. The run is a
//    multiple of mr floats, so this works for any mr and vector width.
// Summation order: each output sums its K blocks in order, each block in a
// fixed order of k that depends only on K and the blocking; a split of the
// outputs over threads does not change any result.
#pragma once

#include <cstdint>

#include "kernels/simd/gemm.h"

namespace kiln::simd {

struct GemvProblem {
  int64_t M = 0, N = 0, K = 0;  // M == 1 or N == 1
  bool along_m = false;         // true: N = 1 on packed A' (outputs m); false: M = 1 on packed B' (outputs n)
  const float* x = nullptr;     // K contiguous floats
  const float* packed = nullptr;  // packed B' or A' as along_m says, blocked as `bl`
  float* y = nullptr;           // the M·N outputs, contiguous
  // As in the SGEMM; C (accumulate) is y's prior contents and the residual is
  // contiguous like y (ld_residual is ignored).
  GemmEpilogue ep;
  GemmBlocking bl;  // the blocking the operand was packed with (sgemm_blocking of the same arch)
};

// Scratch floats sgemv_compute needs (the expanded x of the N = 1 kernel).
inline int64_t gemv_workspace_floats(const GemmBlocking& bl) { return bl.kc * bl.mr + 64; }

// Computes outputs [i0, i1) of p (m when along_m, else n); i0 must be a
// multiple of the panel width (mr when along_m, else nr).
struct sgemv_compute {
  template <class Arch>
  void operator()(Arch, const GemvProblem& p, int64_t i0, int64_t i1, float* workspace) const noexcept;
};

#define KILN_SIMD_GEMV_EXTERN(Arch)                                                                        \
  extern template void sgemv_compute::operator()<Arch>(Arch, const GemvProblem&, int64_t, int64_t, float*) \
      const noexcept;
KILN_SIMD_FOR_EACH_ARCH(KILN_SIMD_GEMV_EXTERN)
#undef KILN_SIMD_GEMV_EXTERN

}  // namespace kiln::simd
