// Body of pool2d_f32 (pool.h); included only by kernels/simd/instantiate.h.
#pragma once

#include <algorithm>
#include <cstdint>
#include <limits>
#include <type_traits>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

#include "kernels/simd/partial_impl.h"
#include "kernels/simd/pool.h"

namespace kiln::simd {
namespace pool_detail {

// The larger of acc and v, acc where v is NaN (so a running max that starts
// from a number ignores NaN, as the reference does). On x86 that is one
// max_ps with v first: max_ps returns its second operand when either is NaN
// and when the two compare equal, exactly select(v > acc, v, acc).
template <class Arch>
xsimd::batch<float, Arch> max_keep(xsimd::batch<float, Arch> acc, xsimd::batch<float, Arch> v) noexcept {
#if defined(__AVX512F__)
  if constexpr (std::is_same_v<Arch, xsimd::avx512f>) return _mm512_max_ps(v, acc);
#endif
#if defined(__AVX__)
  if constexpr (std::is_base_of_v<xsimd::avx, Arch> && !std::is_base_of_v<xsimd::avx512f, Arch>)
    return _mm256_max_ps(v, acc);
#endif
#if defined(__SSE2__)
  if constexpr (std::is_same_v<Arch, xsimd::sse2>) return _mm_max_ps(v, acc);
#endif
  return xsimd::select(v > acc, v, acc);
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
  // Two row buffers: the vertical pass of row oh + 1 runs before the
  // horizontal pass of row oh, so the horizontal loads (which straddle the
  // vertical pass's stores) do not wait on stores still in flight.
  float* bufs[2] = {scratch, scratch + len};
  float* inv_w = scratch + 2 * len;    // per ow: divisor's column factor (average)
  float* valid_w = inv_w + p.OW + Wv;  // per ow: read columns
  std::fill(scratch, scratch + 2 * len, neutral);
  if (!Max) {
    // A vector of divisors read past OW (the short-row path below) sees 1s.
    std::fill(inv_w + p.OW, inv_w + p.OW + Wv, 1.f);
    std::fill(valid_w + p.OW, valid_w + p.OW + Wv, 1.f);
    for (int64_t ow = 0; ow < p.OW; ++ow) {
      int64_t lo, hi;
      const int64_t s = ow * p.sw - p.pw;
      pool_detail::valid_taps(s, p.dw, p.kw, p.W, lo, hi);
      valid_w[ow] = static_cast<float>(hi - lo);
      int64_t plo, phi;  // taps inside [−pw, W + pw_end)
      pool_detail::valid_taps(s + p.pw, p.dw, p.kw, p.W + p.pw + p.pw_end, plo, phi);
      inv_w[ow] = static_cast<float>(phi - plo);
    }
  }
  auto op = [](B a, B b) { return Max ? max_keep<Arch>(a, b) : a + b; };
  auto op1 = [](float a, float v) { return Max ? (v > a ? v : a) : a + v; };

  // Vertical pass of output row oh: row[iw] (iw < W) = the valid window rows
  // of column iw reduced; returns the row's divisor factor (average).
  auto vertical_row = [&](int64_t oh, float* buf) {
    float* row = buf + p.pw;
    const int64_t s = oh * p.sh - p.ph;
    int64_t rlo, rhi;
    pool_detail::valid_taps(s, p.dh, p.kh, p.H, rlo, rhi);
    const int64_t xstep = p.dh * p.W, nrows = rhi - rlo;
    const float* x0 = nrows > 0 ? x + (s + rlo * p.dh) * p.W : x;  // first valid row
    auto vertical = [&](int64_t iw) {
      const float* q = x0 + iw;
      // Every value is folded into an accumulator that starts at the neutral
      // value (so NaN and −inf reads leave lowest(), as in the reference);
      // the common window heights unrolled.
      B acc = vneutral;
      if (nrows == 3)
        acc = op(op(op(acc, B::load_unaligned(q)), B::load_unaligned(q + xstep)), B::load_unaligned(q + 2 * xstep));
      else if (nrows == 2)
        acc = op(op(acc, B::load_unaligned(q)), B::load_unaligned(q + xstep));
      else
        for (int64_t r = 0; r < nrows; ++r) acc = op(acc, B::load_unaligned(q + r * xstep));
      acc.store_unaligned(row + iw);
    };
    int64_t iw = 0;
    for (; iw + Wv <= p.W; iw += Wv) vertical(iw);
    if (iw < p.W && p.W >= Wv) {  // the last columns: one vector ending at the row's end
      vertical(p.W - Wv);
      iw = p.W;
    } else if (iw < p.W && nrows > 0) {  // a row shorter than a vector: partial loads, its W lanes stored
      B acc = vneutral;
      for (int64_t r = 0; r < nrows; ++r) acc = op(acc, detail::load_part<Arch>(x0 + r * xstep, p.W, p.W));
      detail::store_part<Arch>(acc, row, p.W);
      iw = p.W;
    }
    for (; iw < p.W; ++iw) {
      float acc = neutral;
      for (int64_t r = 0; r < nrows; ++r) acc = op1(acc, x0[r * xstep + iw]);
      row[iw] = acc;
    }
    if (Max) return 0.f;
    int64_t plo, phi;
    pool_detail::valid_taps(s + p.ph, p.dh, p.kh, p.H + p.ph + p.ph_end, plo, phi);
    return static_cast<float>(p.count_include_pad ? phi - plo : nrows);
  };

  // Horizontal pass of output row oh: output ow reads buf[ow·sw + t·dw], t < kw.
  const float* fw = p.count_include_pad ? inv_w : valid_w;
  auto horizontal_row = [&](int64_t oh, const float* buf, float fh) {
    float* yr = y + oh * p.OW;
    auto tap = [&](const float* q) { return p.sw == 1 ? B::load_unaligned(q) : detail::load_even<Arch>(q); };
    auto horizontal = [&](int64_t ow) {
      const float* q = buf + ow * p.sw;
      B acc = vneutral;
      if (p.kw == 3 && p.dw == 1)
        acc = op(op(op(acc, tap(q)), tap(q + 1)), tap(q + 2));
      else if (p.kw == 2 && p.dw == 1)
        acc = op(op(acc, tap(q)), tap(q + 1));
      else
        for (int64_t t = 0; t < p.kw; ++t) acc = op(acc, tap(q + t * p.dw));
      if (!Max) acc = acc / (B(fh) * B::load_unaligned(fw + ow));
      return acc;
    };
    int64_t ow = 0;
    if (p.sw <= 2) {
      for (; ow + Wv <= p.OW; ow += Wv) horizontal(ow).store_unaligned(yr + ow);
      if (ow < p.OW && p.OW >= Wv) {  // the last outputs: one vector ending at the row's end
        horizontal(p.OW - Wv).store_unaligned(yr + p.OW - Wv);
      } else if (ow < p.OW) {  // a row shorter than a vector: the buffer's slack holds the neutral value
        detail::store_part<Arch>(horizontal(0), yr, p.OW);
      }
      return;
    }
    for (; ow < p.OW; ++ow) {
      float acc = neutral;
      for (int64_t t = 0; t < p.kw; ++t) acc = op1(acc, buf[ow * p.sw + t * p.dw]);
      yr[ow] = Max ? acc : acc / (fh * fw[ow]);
    }
  };

  float fh = vertical_row(0, bufs[0]);
  for (int64_t oh = 0; oh < p.OH; ++oh) {
    const float fh_next = oh + 1 < p.OH ? vertical_row(oh + 1, bufs[(oh + 1) & 1]) : 0.f;
    horizontal_row(oh, bufs[oh & 1], fh);
    fh = fh_next;
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
