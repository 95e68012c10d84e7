// Body of pool2d_f32 (pool.h); included only by kernels/simd/instantiate.h.
#pragma once

#include <algorithm>
#include <cstdint>
#include <limits>
#include <type_traits>

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

#include "kernels/simd/pool.h"

namespace kiln::simd {
namespace pool_detail {

// Lane i of the index vector: 2i mod n (the even lanes of one vector, twice).
struct EvenLanes {
  static constexpr uint32_t get(unsigned i, unsigned n) { return (2 * i) % n; }
};
// True in the lower half.
struct LowerHalf {
  static constexpr bool get(unsigned i, unsigned n) { return i < n / 2; }
};

// Lanes 0, 2, 4, … of the 2·width floats at p.
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

// Taps k of a window starting at s with 0 <= s + k·d < n, as [lo, hi).
inline void valid_taps(int64_t s, int64_t d, int64_t k, int64_t n, int64_t& lo, int64_t& hi) {
  lo = s >= 0 ? 0 : (-s + d - 1) / d;
  hi = n > s ? std::min(k, (n - s + d - 1) / d) : 0;
  hi = std::max(hi, lo);
}

template <bool Max, class Arch>
void pool_plane(const Pool2dParams& p, const float* x, float* y, float* scratch) noexcept {
  using B = xsimd::batch<float, Arch>;
  constexpr int64_t Wv = static_cast<int64_t>(B::size);
  const float neutral = Max ? std::numeric_limits<float>::lowest() : 0.f;
  const B vneutral(neutral);
  const int64_t span = (p.OW - 1) * p.sw + (p.kw - 1) * p.dw + 1;
  const int64_t len = std::max(span, p.pw + p.W) + 2 * Wv;  // slack for the stride-2 loads
  float* buf = scratch;
  float* inv_w = buf + len;       // per ow: divisor's column factor (average)
  float* valid_w = inv_w + p.OW;  // per ow: read columns
  std::fill(buf, buf + len, neutral);
  if (!Max)
    for (int64_t ow = 0; ow < p.OW; ++ow) {
      int64_t lo, hi;
      const int64_t s = ow * p.sw - p.pw;
      pool_detail::valid_taps(s, p.dw, p.kw, p.W, lo, hi);
      valid_w[ow] = static_cast<float>(hi - lo);
      int64_t plo, phi;  // taps inside [−pw, W + pw_end)
      pool_detail::valid_taps(s + p.pw, p.dw, p.kw, p.W + p.pw + p.pw_end, plo, phi);
      inv_w[ow] = static_cast<float>(phi - plo);
    }
  float* row = buf + p.pw;  // row[iw] for iw in [0, W)
  auto op = [&](B a, B b) { return Max ? xsimd::select(b > a, b, a) : a + b; };
  for (int64_t oh = 0; oh < p.OH; ++oh) {
    const int64_t s = oh * p.sh - p.ph;
    int64_t rlo, rhi;
    pool_detail::valid_taps(s, p.dh, p.kh, p.H, rlo, rhi);
    // Vertical pass over the valid rows.
    auto vertical = [&](int64_t iw) {
      B acc = vneutral;
      for (int64_t r = rlo; r < rhi; ++r) acc = op(acc, B::load_unaligned(x + (s + r * p.dh) * p.W + iw));
      acc.store_unaligned(row + iw);
    };
    int64_t iw = 0;
    for (; iw + Wv <= p.W; iw += Wv) vertical(iw);
    if (iw < p.W && p.W >= Wv) {  // the last columns: one vector ending at the row's end
      vertical(p.W - Wv);
      iw = p.W;
    }
    for (; iw < p.W; ++iw) {
      float acc = neutral;
      for (int64_t r = rlo; r < rhi; ++r) {
        const float v = x[(s + r * p.dh) * p.W + iw];
        acc = Max ? (v > acc ? v : acc) : acc + v;
      }
      row[iw] = acc;
    }
    // Divisor's row factor.
    float fh = 0;
    if (!Max) {
      int64_t plo, phi;
      pool_detail::valid_taps(s + p.ph, p.dh, p.kh, p.H + p.ph + p.ph_end, plo, phi);
      fh = static_cast<float>(p.count_include_pad ? phi - plo : rhi - rlo);
    }
    const float* fw = p.count_include_pad ? inv_w : valid_w;
    // Horizontal pass: output ow reads buf[ow·sw + t·dw], t < kw.
    float* yr = y + oh * p.OW;
    auto horizontal = [&](int64_t ow) {
      B acc = vneutral;
      for (int64_t t = 0; t < p.kw; ++t) {
        const float* q = buf + ow * p.sw + t * p.dw;
        acc = op(acc, p.sw == 1 ? B::load_unaligned(q) : pool_detail::load_even<Arch>(q));
      }
      if (!Max) acc = acc / (B(fh) * B::load_unaligned(fw + ow));
      acc.store_unaligned(yr + ow);
    };
    int64_t ow = 0;
    if (p.sw <= 2) {
      for (; ow + Wv <= p.OW; ow += Wv) horizontal(ow);
      if (ow < p.OW && p.OW >= Wv) {  // the last outputs: one vector ending at the row's end
        horizontal(p.OW - Wv);
        ow = p.OW;
      }
    }
    for (; ow < p.OW; ++ow) {
      float acc = neutral;
      for (int64_t t = 0; t < p.kw; ++t) {
        const float v = buf[ow * p.sw + t * p.dw];
        acc = Max ? (v > acc ? v : acc) : acc + v;
      }
      yr[ow] = Max ? acc : acc / (fh * fw[ow]);
    }
  }
}

}  // namespace pool_detail

template <class Arch>
void pool2d_f32::operator()(Arch, const Pool2dParams& p, const float* x, float* y, float* scratch) const noexcept {
  if (p.max) pool_detail::pool_plane<true, Arch>(p, x, y, scratch);
  else pool_detail::pool_plane<false, Arch>(p, x, y, scratch);
}

}  // namespace kiln::simd

#define KILN_SIMD_POOL_INSTANTIATE(Arch)                                                                             \
  template void kiln::simd::pool2d_f32::operator()<Arch>(Arch, const kiln::simd::Pool2dParams&, const float*, float*, \
                                                         float*) const noexcept;
