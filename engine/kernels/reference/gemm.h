// Reference single-precision GEMM: the ground truth for every fast GEMM and
// the workhorse of the reference Conv/Gemm/MatMul.
//
//   C[m, n] = alpha · Σ_k A'[m, k] · B'[k, n] + beta · C[m, n]
//
// where A' = A or Aᵀ, B' = B or Bᵀ; A' is M×K, B' is K×N; lda/ldb/ldc are row
// strides in elements of the matrices as stored. With beta == 0, C is not read
// (so it may hold garbage or NaN). Accumulates each row in double.
#pragma once

#include <cstdint>

namespace kiln::kernels::ref {

void gemm_f32(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
              int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc) noexcept;

// The same over double (for float64 models and tests).
void gemm_f64(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, double alpha, const double* A,
              int64_t lda, const double* B, int64_t ldb, double beta, double* C, int64_t ldc) noexcept;

}  // namespace kiln::kernels::ref
