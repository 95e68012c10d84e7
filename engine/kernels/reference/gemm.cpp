#include "kernels/reference/gemm.h"

#include <algorithm>
#include <vector>

namespace kiln::kernels::ref {

namespace {

template <class T>
void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda,
          const T* B, int64_t ldb, T beta, T* C, int64_t ldc) noexcept {
  std::vector<double> acc(static_cast<size_t>(N));
  for (int64_t m = 0; m < M; ++m) {
    std::fill(acc.begin(), acc.end(), 0.0);
    for (int64_t k = 0; k < K; ++k) {
      double a = trans_a ? A[k * lda + m] : A[m * lda + k];
      if (a == 0.0) continue;
      if (!trans_b) {
        const T* b = B + k * ldb;
        for (int64_t n = 0; n < N; ++n) acc[n] += a * static_cast<double>(b[n]);
      } else {
        for (int64_t n = 0; n < N; ++n) acc[n] += a * static_cast<double>(B[n * ldb + k]);
      }
    }
    T* c = C + m * ldc;
    for (int64_t n = 0; n < N; ++n) {
      double v = static_cast<double>(alpha) * acc[n];
      if (beta != T(0)) v += static_cast<double>(beta) * static_cast<double>(c[n]);
      c[n] = static_cast<T>(v);
    }
  }
}

}  // namespace

void gemm_f32(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
              int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc) noexcept {
  gemm(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

void gemm_f64(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, double alpha, const double* A,
              int64_t lda, const double* B, int64_t ldb, double beta, double* C, int64_t ldc) noexcept {
  gemm(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

}  // namespace kiln::kernels::ref
