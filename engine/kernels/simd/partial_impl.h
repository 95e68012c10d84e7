// Partial vectors: the first `cnt` lanes of a load or a store, touching no
// float past them (AVX-512 and AVX2 masked loads and stores; elsewhere
// through a buffer). Included by kernel bodies only.
#pragma once

#include <cstdint>
#include <type_traits>

#include "kernels/simd/arch.h"

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>
#define KILN_PARTIAL_X86 1
#else
#define KILN_PARTIAL_X86 0
#endif

namespace kiln::simd::detail {

// The first `cnt` lanes of a vector at s, the others 0 (cnt >= W: all).
// Touches s[0, cnt) only, unless `avail` (the floats readable from s) covers a
// whole vector. AVX-512 and AVX2 use masked loads.
template <class Arch>
inline xsimd::batch<float, Arch> load_part(const float* s, int64_t cnt, int64_t avail) noexcept {
  using B = xsimd::batch<float, Arch>;
  constexpr int64_t W = static_cast<int64_t>(B::size);
  if (cnt >= W) return B::load_unaligned(s);
  if (cnt <= 0) return B(0.f);
#if KILN_PARTIAL_X86
  if constexpr (std::is_same_v<Arch, xsimd::avx512f>) {
    return _mm512_maskz_loadu_ps(static_cast<__mmask16>((1u << cnt) - 1), s);
  } else if constexpr (std::is_base_of_v<xsimd::avx2, Arch>) {
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    return _mm256_maskload_ps(s, _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(cnt)), lane));
  } else
#endif
  {
    alignas(64) float buf[W] = {};
    if (avail >= W) {
      for (int64_t i = 0; i < W; ++i) buf[i] = static_cast<float>(i);
      return xsimd::select(B::load_aligned(buf) < B(static_cast<float>(cnt)), B::load_unaligned(s), B(0.f));
    }
    for (int64_t i = 0; i < cnt; ++i) buf[i] = s[i];
    return B::load_aligned(buf);
  }
}

// Stores the first `cnt` < W lanes of v to d[0, cnt); nothing else.
template <class Arch>
inline void store_part(xsimd::batch<float, Arch> v, float* d, int64_t cnt) noexcept {
  using B = xsimd::batch<float, Arch>;
  constexpr int64_t W = static_cast<int64_t>(B::size);
#if KILN_PARTIAL_X86
  if constexpr (std::is_same_v<Arch, xsimd::avx512f>) {
    _mm512_mask_storeu_ps(d, static_cast<__mmask16>((1u << cnt) - 1), v);
  } else if constexpr (std::is_base_of_v<xsimd::avx2, Arch>) {
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    _mm256_maskstore_ps(d, _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(cnt)), lane), v);
  } else
#endif
  {
    alignas(64) float buf[W];
    v.store_aligned(buf);
    for (int64_t i = 0; i < cnt; ++i) d[i] = buf[i];
  }
}

// Lane i of the index vector: 2i mod n (the even lanes of one vector, twice).
struct EvenLanes {
  static constexpr uint32_t get(unsigned i, unsigned n) { return (2 * i) % n; }
};
// True in the lower half.
struct LowerHalf {
  static constexpr bool get(unsigned i, unsigned n) { return i < n / 2; }
};

// Lanes 0, 2, 4, … of the 2·width floats at p (all of which must be readable).
template <class Arch>
xsimd::batch<float, Arch> load_even(const float* p) noexcept {
  using B = xsimd::batch<float, Arch>;
  constexpr auto idx = xsimd::make_batch_constant<xsimd::batch<uint32_t, Arch>, EvenLanes>();
  constexpr auto low = xsimd::make_batch_bool_constant<B, LowerHalf>();
#if defined(__AVX512F__)
  if constexpr (std::is_same_v<Arch, xsimd::avx512f>) {
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    return _mm512_permutex2var_ps(_mm512_loadu_ps(p), even, _mm512_loadu_ps(p + 16));
  }
#endif
  const B a = xsimd::swizzle(B::load_unaligned(p), idx), b = xsimd::swizzle(B::load_unaligned(p + B::size), idx);
  return xsimd::select(low, a, b);
}

}  // namespace kiln::simd::detail

#undef KILN_PARTIAL_X86
