// Reference integer matrix product (MatMul over int32/int64/uint32/uint64):
//
//   C[m, n] = Σ_k A[m, k] · B[k, n]
//
// with wrap-around arithmetic modulo 2^bits, as numpy computes it. The sum is
// formed in uint64 (well defined on overflow, and 2^bits divides 2^64, so the
// final truncation to T gives the same residue). lda/ldb/ldc are row strides.
#pragma once

#include <cstdint>
#include <type_traits>

namespace kiln::kernels::ref {

template <class T>
void gemm_int(int64_t M, int64_t N, int64_t K, const T* A, int64_t lda, const T* B, int64_t ldb, T* C,
              int64_t ldc) noexcept {
  static_assert(std::is_integral_v<T>, "gemm_int is for integer types");
  // Sign-extend signed values to 64 bits, then reinterpret as unsigned.
  auto wide = [](T v) -> uint64_t {
    if constexpr (std::is_signed_v<T>) return static_cast<uint64_t>(static_cast<int64_t>(v));
    else return static_cast<uint64_t>(v);
  };
  for (int64_t m = 0; m < M; ++m) {
    for (int64_t n = 0; n < N; ++n) {
      uint64_t acc = 0;
      for (int64_t k = 0; k < K; ++k) acc += wide(A[m * lda + k]) * wide(B[k * ldb + n]);
      C[m * ldc + n] = static_cast<T>(acc);
    }
  }
}

}  // namespace kiln::kernels::ref
