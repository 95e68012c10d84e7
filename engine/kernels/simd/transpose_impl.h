// In-register transpose of a square block of W × W floats (W = the arch's
// vector width): r[i] lane j becomes r[j] lane i. Included by kernel bodies
// (compiled with their arch's flags) only.
#pragma once

#include <cstdint>
#include <type_traits>

#include "kernels/simd/arch.h"

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>
#endif

namespace kiln::simd::detail {

template <class Arch>
inline void transpose_square(xsimd::batch<float, Arch>* r) noexcept {
  using B = xsimd::batch<float, Arch>;
  constexpr int W = static_cast<int>(B::size);
#if defined(__x86_64__) || defined(_M_X64)
  if constexpr (std::is_same_v<Arch, xsimd::avx512f>) {
    // Pairs (unpack ps) and quads (unpack pd) inside each 128-bit lane: u[4i + q]
    // lane L then holds column 4L + q of rows 4i … 4i + 3. Two rounds of
    // 128-bit lane shuffles gather each column's four quads.
    __m512 u[16];
    for (int i = 0; i < 4; ++i) {
      const __m512d t0 = _mm512_castps_pd(_mm512_unpacklo_ps(r[4 * i], r[4 * i + 1]));
      const __m512d t1 = _mm512_castps_pd(_mm512_unpackhi_ps(r[4 * i], r[4 * i + 1]));
      const __m512d t2 = _mm512_castps_pd(_mm512_unpacklo_ps(r[4 * i + 2], r[4 * i + 3]));
      const __m512d t3 = _mm512_castps_pd(_mm512_unpackhi_ps(r[4 * i + 2], r[4 * i + 3]));
      u[4 * i + 0] = _mm512_castpd_ps(_mm512_unpacklo_pd(t0, t2));
      u[4 * i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(t0, t2));
      u[4 * i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(t1, t3));
      u[4 * i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(t1, t3));
    }
    for (int q = 0; q < 4; ++q) {
      const __m512 v0 = _mm512_shuffle_f32x4(u[q], u[4 + q], 0x88), v1 = _mm512_shuffle_f32x4(u[q], u[4 + q], 0xDD);
      const __m512 w0 = _mm512_shuffle_f32x4(u[8 + q], u[12 + q], 0x88);
      const __m512 w1 = _mm512_shuffle_f32x4(u[8 + q], u[12 + q], 0xDD);
      r[q] = _mm512_shuffle_f32x4(v0, w0, 0x88);
      r[8 + q] = _mm512_shuffle_f32x4(v0, w0, 0xDD);
      r[4 + q] = _mm512_shuffle_f32x4(v1, w1, 0x88);
      r[12 + q] = _mm512_shuffle_f32x4(v1, w1, 0xDD);
    }
    return;
  } else if constexpr (std::is_base_of_v<xsimd::avx2, Arch>) {
    __m256 u[8];
    for (int i = 0; i < 2; ++i) {
      const __m256d t0 = _mm256_castps_pd(_mm256_unpacklo_ps(r[4 * i], r[4 * i + 1]));
      const __m256d t1 = _mm256_castps_pd(_mm256_unpackhi_ps(r[4 * i], r[4 * i + 1]));
      const __m256d t2 = _mm256_castps_pd(_mm256_unpacklo_ps(r[4 * i + 2], r[4 * i + 3]));
      const __m256d t3 = _mm256_castps_pd(_mm256_unpackhi_ps(r[4 * i + 2], r[4 * i + 3]));
      u[4 * i + 0] = _mm256_castpd_ps(_mm256_unpacklo_pd(t0, t2));
      u[4 * i + 1] = _mm256_castpd_ps(_mm256_unpackhi_pd(t0, t2));
      u[4 * i + 2] = _mm256_castpd_ps(_mm256_unpacklo_pd(t1, t3));
      u[4 * i + 3] = _mm256_castpd_ps(_mm256_unpackhi_pd(t1, t3));
    }
    for (int q = 0; q < 4; ++q) {
      r[q] = _mm256_permute2f128_ps(u[q], u[4 + q], 0x20);
      r[4 + q] = _mm256_permute2f128_ps(u[q], u[4 + q], 0x31);
    }
    return;
  } else if constexpr (std::is_base_of_v<xsimd::sse2, Arch> && W == 4) {
    __m128 a = r[0], b = r[1], c = r[2], d = r[3];
    _MM_TRANSPOSE4_PS(a, b, c, d);
    r[0] = a;
    r[1] = b;
    r[2] = c;
    r[3] = d;
    return;
  }
#endif
  alignas(64) float m[W * W];
  for (int i = 0; i < W; ++i) r[i].store_aligned(m + i * W);
  for (int i = 0; i < W; ++i) {
    alignas(64) float col[W];
    for (int j = 0; j < W; ++j) col[j] = m[j * W + i];
    r[i] = B::load_aligned(col);
  }
}

}  // namespace kiln::simd::detail
