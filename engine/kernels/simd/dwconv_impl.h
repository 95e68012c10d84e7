// Body of dwconv2d_f32 (dwconv.h); included only by kernels/simd/instantiate.h.
#pragma once

#include <algorithm>
#include <cassert>
#include <cstring>
#include <type_traits>

#include "kernels/simd/activation_impl.h"
#include "kernels/simd/dwconv.h"
#include "kernels/simd/partial_impl.h"
#include "kernels/simd/transpose_impl.h"

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>
#define KILN_DW_X86 1  // masked loads/stores and permutes below (AVX-512, AVX2)
#else
#define KILN_DW_X86 0
#endif

namespace kiln::simd {

namespace detail {

// dst[j] = xr[j − pl] for pl <= j < pl + wc, else 0, for j < n (wc = the
// input columns that land below n). Whole-vector stores in increasing order,
// each overwriting what the one before spilled: writes up to one vector past
// n. Reads xr[0, wc) (more only where `avail`, the floats readable from xr,
// allows; see load_part).
template <class Arch>
inline void pad_row(const float* xr, int64_t w, int64_t pl, float* dst, int64_t n, int64_t avail) noexcept {
  using B = xsimd::batch<float, Arch>;
  constexpr int64_t W = static_cast<int64_t>(B::size);
  const B zero(0.f);
  const int64_t a = std::min(pl, n), wc = std::clamp<int64_t>(n - pl, 0, w);
  if (a > 0) zero.store_unaligned(dst);
  for (int64_t j = W; j < a; j += W) zero.store_unaligned(dst + j);
  float* d = dst + a;
  int64_t j = 0;
  for (; j + W <= wc; j += W) B::load_unaligned(xr + j).store_unaligned(d + j);
  // The last, partial vector brings zeros for the lanes past the row's data.
  load_part<Arch>(xr + j, wc - j, avail - j).store_unaligned(d + j);
  for (j = a + j + W; j < n; j += W) zero.store_unaligned(dst + j);
}

template <class Arch>
inline void zero_row(float* dst, int64_t n) noexcept {
  using B = xsimd::batch<float, Arch>;
  constexpr int64_t W = static_cast<int64_t>(B::size);
  for (int64_t j = 0; j < n; j += W) B(0.f).store_unaligned(dst + j);
}

// ev[k] = src[2k] for k < ⌈n/2⌉, od[k] = src[2k + 1] for k < ⌊n/2⌋, and 0 in
// both up to the end of their last vector (whole-vector stores: up to one
// vector past ⌈n/2⌉). Reads src[0, n) (more only where `avail` allows).
template <class Arch>
void deinterleave(const float* src, int64_t n, int64_t avail, float* ev, float* od) noexcept {
  using B = xsimd::batch<float, Arch>;
  constexpr int64_t W = static_cast<int64_t>(B::size);
  for (int64_t k = 0; 2 * k < n; k += W) {
    const int64_t i = 2 * k;
    const B a = load_part<Arch>(src + i, n - i, avail - i), b = load_part<Arch>(src + i + W, n - i - W, avail - i - W);
#if KILN_DW_X86
    if constexpr (std::is_same_v<Arch, xsimd::avx512f>) {
      const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
      const __m512i odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
      B(_mm512_permutex2var_ps(a, even, b)).store_unaligned(ev + k);
      B(_mm512_permutex2var_ps(a, odd, b)).store_unaligned(od + k);
    } else if constexpr (std::is_base_of_v<xsimd::avx2, Arch>) {
      // shuffle_ps pairs within 128-bit lanes: [a0 a2 b0 b2 | a4 a6 b4 b6];
      // the 64-bit permute (0, 2, 1, 3) puts a's pairs before b's.
      const __m256 e = _mm256_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0));
      const __m256 o = _mm256_shuffle_ps(a, b, _MM_SHUFFLE(3, 1, 3, 1));
      B(_mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(e), 0xD8))).store_unaligned(ev + k);
      B(_mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(o), 0xD8))).store_unaligned(od + k);
    } else
#endif
    {
      alignas(64) float in[2 * W], e[W], o[W];
      a.store_aligned(in);
      b.store_aligned(in + W);
      for (int64_t j = 0; j < W; ++j) {
        e[j] = in[2 * j];
        o[j] = in[2 * j + 1];
      }
      B::load_aligned(e).store_unaligned(ev + k);
      B::load_aligned(o).store_unaligned(od + k);
    }
  }
}

// Fills padded rows [r0, r1) of the workspace (DwLayout in dwconv.h): S = 1
// row r of the padded plane; S = 2 row r/2 of sub-planes 2·(r%2) + {0, 1}.
// Rows must be filled in increasing order (each row's spill lands in the next
// one, or in the slack).
template <class Arch, int S>
void dw_fill(const DwConvParams& p, const DwLayout& l, const float* x, float* work, int64_t r0, int64_t r1) noexcept {
  using B = xsimd::batch<float, Arch>;
  constexpr int64_t W = static_cast<int64_t>(B::size);
  // Locals, not p's fields: vector stores may alias anything, and would make
  // every field be reloaded after each of them.
  const int64_t H = p.H, Wd = p.W, pt = p.pad_top, pl = p.pad_left, P = l.pitch, plane = l.plane;
  if constexpr (S == 1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t iy = r - pt;
      float* row = work + r * P;
      if (iy >= 0 && iy < H) pad_row<Arch>(x + iy * Wd, Wd, pl, row, P, (H - iy) * Wd);
      else zero_row<Arch>(row, P);
    }
  } else {
    // Input column c lands at padded column c + pl: its even columns (c = 2k)
    // at j = ⌊pl/2⌋ + k of e (pl even) or o (pl odd), its odd ones at
    // j = ⌈pl/2⌉ + k of the other.
    const int64_t wc = std::clamp<int64_t>(2 * P - pl, 0, Wd);
    const int64_t e0 = std::min((pl + 1) / 2, P), o0 = std::min(pl / 2, P);  // first data entry of e, o
    const int64_t end = ((wc + 1) / 2 + W - 1) / W * W;  // entries the deinterleave writes from there
    const bool swap = pl % 2 != 0;
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t iy = r - pt;
      float* e = work + (2 * (r % 2)) * plane + (r / 2) * P;  // Xpad[r, 2j]
      float* o = e + plane;                                   // Xpad[r, 2j + 1]
      if (iy < 0 || iy >= H) {
        zero_row<Arch>(e, P);
        zero_row<Arch>(o, P);
        continue;
      }
      zero_row<Arch>(e, e0);
      zero_row<Arch>(o, o0);
      deinterleave<Arch>(x + iy * Wd, wc, (H - iy) * Wd, swap ? o + o0 : e + e0, swap ? e + e0 : o + o0);
      for (int64_t j = e0 + end; j < P; j += W) B(0.f).store_unaligned(e + j);
      for (int64_t j = o0 + end; j < P; j += W) B(0.f).store_unaligned(o + j);
    }
  }
}

// U vectors of u from t on (see dw_band), each summed in R partial
// accumulators (kernel rows ky ≡ r mod R) so that the dependent chains of
// FMAs stay short enough for the FMA units to stay busy on small maps too.
template <class Arch, int K, int S, int U, int R>
inline void dw_block(const float* const* row, const xsimd::batch<float, Arch>* wv, float bias, int64_t t,
                     float* u) noexcept {
  using B = xsimd::batch<float, Arch>;
  constexpr int64_t W = static_cast<int64_t>(B::size);
  B acc[U][R];
#pragma GCC unroll 8
  for (int j = 0; j < U; ++j) {
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) acc[j][r] = B(r == 0 ? bias : 0.f);
  }
#pragma GCC unroll 8
  for (int ky = 0; ky < K; ++ky) {
#pragma GCC unroll 8
    for (int kx = 0; kx < K; ++kx) {
      const float* s = (S == 1 ? row[ky] + kx : row[2 * ky + kx % 2] + kx / 2) + t;
#pragma GCC unroll 8
      for (int j = 0; j < U; ++j)
        acc[j][ky % R] = xsimd::fma(B::load_unaligned(s + j * W), wv[ky * K + kx], acc[j][ky % R]);
    }
  }
#pragma GCC unroll 8
  for (int j = 0; j < U; ++j) {
#pragma GCC unroll 8
    for (int r = 1; r < R; ++r) acc[j][0] += acc[j][r];
    acc[j][0].store_unaligned(u + t + j * W);
  }
}

// u[t] = bias + Σ_{ky,kx} w[ky, kx] · tap(ky, kx)[t] for t < n (whole vectors:
// up to one vector past n), where tap(ky, kx) = row[ky] + kx (S = 1) or
// row[2·ky + kx%2] + kx/2 (S = 2); see dwconv.h.
template <class Arch, int K, int S>
void dw_band(const float* const* row_in, const float* w, float bias, int64_t n, float* u) noexcept {
  using B = xsimd::batch<float, Arch>;
  constexpr int64_t W = static_cast<int64_t>(B::size);
  constexpr int NR = S == 1 ? K : 2 * K;
  const float* row[NR];
  for (int r = 0; r < NR; ++r) row[r] = row_in[r];
  B wv[K * K];  // a local copy stays in registers (where there are enough)
  for (int t = 0; t < K * K; ++t) wv[t] = B(w[t]);
  const int64_t nvec = (n + W - 1) / W;
  int64_t v = 0;
  // Blocks of 4 vectors; 3×3 splits each sum over 3 accumulators, 5×5 over
  // 2 (its 25 weights fill the registers). The last vectors go one by one
  // with one accumulator per kernel row.
  for (; v + 4 <= nvec; v += 4) dw_block<Arch, K, S, 4, K == 3 ? 3 : 2>(row, wv, bias, v * W, u);
  for (; v < nvec; ++v) dw_block<Arch, K, S, 1, K>(row, wv, bias, v * W, u);
}

// y[r, ox] = act(u[r·P + ox] (+ z[r, ox])) for r < rows, ox < OW. A vector
// that runs past its row spills into later rows (written after it), except
// where it would pass `yend`, the end of the plane: there the row ends with a
// vector that finishes at the row's end or, for rows narrower than a vector,
// through a buffer. u is read up to one vector past its last row.
template <class Arch, Act A>
void dw_compact(const float* u, int64_t P, int64_t rows, int64_t OW, const float* z, float* y, const float* yend,
                const ActParams act) noexcept {
  using B = xsimd::batch<float, Arch>;
  constexpr int64_t W = static_cast<int64_t>(B::size);
  auto out = [&](const float* s, const float* zs, float* d) {
    B acc = B::load_unaligned(s);
    if (zs) acc += B::load_unaligned(zs);
    act_vec<A>(acc, act.alpha, act.beta).store_unaligned(d);
  };
  for (int64_t r = 0; r < rows; ++r) {
    const float* s = u + r * P;
    float* d = y + r * OW;
    const float* zr = z ? z + r * OW : nullptr;
    for (int64_t ox = 0; ox < OW; ox += W) {
      if (ox + W <= OW || d + ox + W <= yend) {
        out(s + ox, zr ? zr + ox : nullptr, d + ox);
      } else if (OW >= W) {
        out(s + OW - W, zr ? zr + OW - W : nullptr, d + OW - W);
      } else {  // a row narrower than a vector at the end of the plane
        B acc = B::load_unaligned(s + ox);
        if (zr) acc += load_part<Arch>(zr + ox, OW - ox, 0);
        store_part<Arch>(act_vec<A>(acc, act.alpha, act.beta), d + ox, OW - ox);
      }
    }
  }
}

template <class Arch, int K, int S, Act A>
void dw_plane(const DwConvParams& p, const float* x, const float* w, float bias, const float* z, float* y,
              float* work) noexcept {
  const DwLayout l = dw_layout(p);
  const int64_t P = l.pitch;
  float* u = work + l.out;
  const float* yend = y + p.OH * p.OW;
  int64_t filled = 0;  // padded rows in the workspace
  for (int64_t oy0 = 0; oy0 < p.OH; oy0 += l.band) {
    const int64_t oy1 = std::min(p.OH, oy0 + l.band);
    // Padded rows the band's outputs read: up to (oy1 − 1)·S + K − 1.
    const int64_t need = (oy1 - 1) * S + K + (S == 2 ? 1 : 0);
    dw_fill<Arch, S>(p, l, x, work, filled, need);
    filled = need;
    const float* row[S == 1 ? K : 2 * K];
    for (int ky = 0; ky < K; ++ky) {
      if constexpr (S == 1) {
        row[ky] = work + (oy0 + ky) * P;
      } else {
        row[2 * ky] = work + (2 * (ky % 2)) * l.plane + (oy0 + ky / 2) * P;
        row[2 * ky + 1] = row[2 * ky] + l.plane;
      }
    }
    // The band's last row needs only its first OW columns.
    dw_band<Arch, K, S>(row, w, bias, (oy1 - oy0 - 1) * P + p.OW, u);
    float* yb = y + oy0 * p.OW;
    dw_compact<Arch, A>(u, P, oy1 - oy0, p.OW, z ? z + oy0 * p.OW : nullptr, yb, yend, p.act);
    // Costly activations run over the finished band while it is in cache
    // (one contiguous run of y; the whole plane on small maps, where per-row
    // passes would run mostly in their scalar tails).
    if (A == Act::None && p.act.kind != Act::None) activation_f32{}(Arch{}, p.act, yb, yb, (oy1 - oy0) * p.OW);
  }
}

template <class Arch, int K, int S>
void dw_with_act(const DwConvParams& p, const float* x, const float* w, float bias, const float* z, float* y,
                 float* work) noexcept {
  switch (p.act.kind) {
    case Act::Relu: return dw_plane<Arch, K, S, Act::Relu>(p, x, w, bias, z, y, work);
    case Act::LeakyRelu: return dw_plane<Arch, K, S, Act::LeakyRelu>(p, x, w, bias, z, y, work);
    case Act::Clip: return dw_plane<Arch, K, S, Act::Clip>(p, x, w, bias, z, y, work);
    case Act::HardSigmoid: return dw_plane<Arch, K, S, Act::HardSigmoid>(p, x, w, bias, z, y, work);
    case Act::HardSwish: return dw_plane<Arch, K, S, Act::HardSwish>(p, x, w, bias, z, y, work);
    default: return dw_plane<Arch, K, S, Act::None>(p, x, w, bias, z, y, work);  // none, or a row pass
  }
}

// ---- Channel-blocked kernel (dwconv2d_blocked_f32) ----

// U outputs along a row: out[u] = bias + Σ w[ky, kx] · in[ky·pitch + u·S + kx]
// (positions of W floats, one channel per lane).
template <class Arch, int K, int S, int U>
inline void dwb_block(const float* in, int64_t pitch, const xsimd::batch<float, Arch>* wv,
                      xsimd::batch<float, Arch> bv, float* out) noexcept {
  using B = xsimd::batch<float, Arch>;
  constexpr int64_t W = static_cast<int64_t>(B::size);
  B acc[U];
#pragma GCC unroll 8
  for (int u = 0; u < U; ++u) acc[u] = bv;
#pragma GCC unroll 5
  for (int ky = 0; ky < K; ++ky) {
    const float* r = in + ky * pitch * W;
#pragma GCC unroll 5
    for (int kx = 0; kx < K; ++kx)
#pragma GCC unroll 8
      for (int u = 0; u < U; ++u) acc[u] = xsimd::fma(B::load_unaligned(r + (u * S + kx) * W), wv[ky * K + kx], acc[u]);
  }
#pragma GCC unroll 8
  for (int u = 0; u < U; ++u) acc[u].store_unaligned(out + u * W);
}

template <class Arch, int K, int S, Act A>
void dw_blocked(const DwConvParams& p, int64_t channels, const float* x, const float* w, const float* bias,
                const float* z, float* y, float* work) noexcept {
  using B = xsimd::batch<float, Arch>;
  constexpr int64_t W = static_cast<int64_t>(B::size);
  const DwBlockedLayout l = dw_blocked_layout(p);
  const int64_t H = p.H, Wd = p.W, isz = H * Wd, OH = p.OH, OW = p.OW, osz = OH * OW;
  const int64_t pt = p.pad_top, pl = p.pad_left, rows = l.rows, pitch = l.pitch;
  float* xb = work;
  float* ob = work + l.out;
  const B zero(0.f);
  // The zero border around the input's positions: the same for every block.
  for (int64_t r = 0; r < rows; ++r) {
    float* row = xb + r * pitch * W;
    if (r < pt || r >= pt + H) {
      for (int64_t c = 0; c < pitch; ++c) zero.store_unaligned(row + c * W);
      continue;
    }
    for (int64_t c = 0; c < pl; ++c) zero.store_unaligned(row + c * W);
    for (int64_t c = pl + Wd; c < pitch; ++c) zero.store_unaligned(row + c * W);
  }
  for (int64_t c0 = 0; c0 < channels; c0 += W) {
    const int64_t nc = std::min<int64_t>(W, channels - c0);
    // Input planes → positions: W flattened positions at a time, transposed.
    for (int64_t q = 0, iy = 0, ix = 0; q < isz; q += W) {
      const int64_t cnt = std::min<int64_t>(W, isz - q);
      B r[W];
      for (int64_t i = 0; i < W; ++i) r[i] = i < nc ? load_part<Arch>(x + (c0 + i) * isz + q, cnt, cnt) : zero;
      transpose_square<Arch>(r);
      for (int64_t j = 0; j < cnt; ++j) {
        r[j].store_unaligned(xb + ((iy + pt) * pitch + ix + pl) * W);
        if (++ix == Wd) {
          ix = 0;
          ++iy;
        }
      }
    }
    alignas(64) float wt[K * K * W] = {}, bt[W] = {};
    for (int64_t i = 0; i < nc; ++i) {
      for (int t = 0; t < K * K; ++t) wt[t * W + i] = w[(c0 + i) * K * K + t];
      if (bias) bt[i] = bias[c0 + i];
    }
    B wv[K * K];
    for (int t = 0; t < K * K; ++t) wv[t] = B::load_aligned(wt + t * W);
    const B bv = B::load_aligned(bt);
    constexpr int U = 8;
    for (int64_t oy = 0; oy < OH; ++oy) {
      const float* in = xb + oy * S * pitch * W;
      float* out = ob + oy * OW * W;
      int64_t ox = 0;
      for (; ox + U <= OW; ox += U) dwb_block<Arch, K, S, U>(in + ox * S * W, pitch, wv, bv, out + ox * W);
      for (; ox < OW; ++ox) dwb_block<Arch, K, S, 1>(in + ox * S * W, pitch, wv, bv, out + ox * W);
    }
    // Positions → output planes, with the residual and the activation.
    for (int64_t q = 0; q < osz; q += W) {
      const int64_t cnt = std::min<int64_t>(W, osz - q);
      B r[W];
      for (int64_t j = 0; j < W; ++j) r[j] = j < cnt ? B::load_unaligned(ob + (q + j) * W) : zero;
      transpose_square<Arch>(r);
      for (int64_t i = 0; i < nc; ++i) {
        B v = r[i];
        if (z) v += load_part<Arch>(z + (c0 + i) * osz + q, cnt, cnt);
        v = act_vec<A>(v, p.act.alpha, p.act.beta);
        if (cnt == W) v.store_unaligned(y + (c0 + i) * osz + q);
        else store_part<Arch>(v, y + (c0 + i) * osz + q, cnt);
      }
    }
  }
}

// Every activation runs in the transposing store, costly ones included: it
// holds no accumulators.
template <class Arch, int K, int S>
void dw_blocked_with_act(const DwConvParams& p, int64_t channels, const float* x, const float* w, const float* bias,
                         const float* z, float* y, float* work) noexcept {
  with_act(p.act.kind, [&](auto a) { dw_blocked<Arch, K, S, decltype(a)::value>(p, channels, x, w, bias, z, y, work); });
}

}  // namespace detail

template <class Arch>
void dwconv2d_blocked_f32::operator()(Arch, const DwConvParams& p, int64_t channels, const float* x, const float* w,
                                      const float* bias, const float* z, float* y, float* work) const noexcept {
  assert(dwconv2d_supported(p));
  if (channels <= 0) return;
  if (p.kernel == 3 && p.stride == 1) detail::dw_blocked_with_act<Arch, 3, 1>(p, channels, x, w, bias, z, y, work);
  else if (p.kernel == 3) detail::dw_blocked_with_act<Arch, 3, 2>(p, channels, x, w, bias, z, y, work);
  else if (p.stride == 1) detail::dw_blocked_with_act<Arch, 5, 1>(p, channels, x, w, bias, z, y, work);
  else detail::dw_blocked_with_act<Arch, 5, 2>(p, channels, x, w, bias, z, y, work);
}

template <class Arch>
void dwconv2d_f32::operator()(Arch, const DwConvParams& p, const float* x, const float* w, float bias, const float* z,
                              float* y, float* work) const noexcept {
  assert(dwconv2d_supported(p));
  if (p.kernel == 3 && p.stride == 1) detail::dw_with_act<Arch, 3, 1>(p, x, w, bias, z, y, work);
  else if (p.kernel == 3) detail::dw_with_act<Arch, 3, 2>(p, x, w, bias, z, y, work);
  else if (p.stride == 1) detail::dw_with_act<Arch, 5, 1>(p, x, w, bias, z, y, work);
  else detail::dw_with_act<Arch, 5, 2>(p, x, w, bias, z, y, work);
}

}  // namespace kiln::simd

#undef KILN_DW_X86

#define KILN_SIMD_DWCONV_INSTANTIATE(Arch)                                                                \
  template void kiln::simd::dwconv2d_f32::operator()<Arch>(Arch, const kiln::simd::DwConvParams&, const float*, \
                                                           const float*, float, const float*, float*, float*) \
      const noexcept;                                                                                     \
  template void kiln::simd::dwconv2d_blocked_f32::operator()<Arch>(                                        \
      Arch, const kiln::simd::DwConvParams&, int64_t, const float*, const float*, const float*, const float*, \
      float*, float*) const noexcept;
