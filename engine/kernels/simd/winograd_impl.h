// Bodies of the Winograd F(4×4, 3×3) transforms (winograd.h); included only by
// kernels/simd/instantiate.h.
#pragma once

#include <algorithm>
#include <cstring>

#include "kernels/simd/activation_impl.h"
#include "kernels/simd/partial_impl.h"
#include "kernels/simd/winograd.h"

namespace kiln::simd {
namespace winograd_detail {

// t = Bᵀ·d over six vectors (one column or row of a tile, lanes = tiles).
template <class B>
inline void bt6(const B d[6], B t[6]) noexcept {
  const B four(4.f), five(5.f), two(2.f);
  t[0] = xsimd::fma(four, d[0], xsimd::fnma(five, d[2], d[4]));   // 4d0 − 5d2 + d4
  const B a = xsimd::fnma(four, d[2], d[4]), b = xsimd::fnma(four, d[1], d[3]);
  t[1] = a + b;                                                   // −4d1 − 4d2 + d3 + d4
  t[2] = a - b;                                                   //  4d1 − 4d2 − d3 + d4
  const B c = d[4] - d[2], e = two * (d[3] - d[1]);
  t[3] = c + e;                                                   // −2d1 − d2 + 2d3 + d4
  t[4] = c - e;                                                   //  2d1 − d2 − 2d3 + d4
  t[5] = xsimd::fma(four, d[1], xsimd::fnma(five, d[3], d[5]));  // 4d1 − 5d3 + d5
}

// o = Aᵀ·m over six vectors.
template <class B>
inline void at6(const B m[6], B o[4]) noexcept {
  const B p = m[1] + m[2], q = m[1] - m[2], r = m[3] + m[4], s = m[3] - m[4];
  o[0] = m[0] + p + r;
  o[1] = xsimd::fma(B(2.f), s, q);
  o[2] = xsimd::fma(B(4.f), r, p);
  o[3] = xsimd::fma(B(8.f), s, q) + m[5];
}

// GCC 12 flags the _mm512_undefined_ps inside its own AVX-512 unpack
// intrinsics as "maybe uninitialized" (as in gemm_impl.h); those lanes are
// never read.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

// 4×4 transposes inside every 128-bit group g of lanes:
//   out[j][4g + b] = in[b][4g + j].
// xsimd 8.1's zip_lo/zip_hi are the unpack instructions, which interleave
// within 128-bit groups on every x86 width (and NEON's vectors are one
// group); the second stage moves 64-bit pairs by zipping the same bits as
// doubles. The Winograd output test pins this behaviour on every arch.
template <class Arch>
inline void transpose4x4_groups(const xsimd::batch<float, Arch> in[4], xsimd::batch<float, Arch> out[4]) noexcept {
  using B = xsimd::batch<float, Arch>;
  using D = xsimd::batch<double, Arch>;
  const D t0 = xsimd::bitwise_cast<D>(xsimd::zip_lo(in[0], in[1]));  // a0 b0 a1 b1
  const D t1 = xsimd::bitwise_cast<D>(xsimd::zip_hi(in[0], in[1]));  // a2 b2 a3 b3
  const D t2 = xsimd::bitwise_cast<D>(xsimd::zip_lo(in[2], in[3]));  // c0 d0 c1 d1
  const D t3 = xsimd::bitwise_cast<D>(xsimd::zip_hi(in[2], in[3]));  // c2 d2 c3 d3
  out[0] = xsimd::bitwise_cast<B>(xsimd::zip_lo(t0, t2));            // a0 b0 c0 d0
  out[1] = xsimd::bitwise_cast<B>(xsimd::zip_hi(t0, t2));            // a1 b1 c1 d1
  out[2] = xsimd::bitwise_cast<B>(xsimd::zip_lo(t1, t3));            // a2 b2 c2 d2
  out[3] = xsimd::bitwise_cast<B>(xsimd::zip_hi(t1, t3));            // a3 b3 c3 d3
}

// Lane L of the result takes lane 4·(L mod W/4) + L div W/4 of the input:
// the tile order that undoes transpose4x4_groups on four consecutive
// vectors of a row (see deinterleave4).
template <uint32_t W>
struct TileOrder {
  static constexpr uint32_t get(uint32_t L, uint32_t) { return 4 * (L % (W / 4)) + L / (W / 4); }
};

// Splits 4·W consecutive floats of a row by column phase:
//   out[j][k] = src[4·k + j]   (k < W, j < 4).
// transpose4x4_groups of the four vectors gives lane 4g + b = src[4·((W/4)·b + g) + j];
// one permute per phase restores the order k = (W/4)·b + g.
template <class Arch>
inline void deinterleave4(const float* src, xsimd::batch<float, Arch> out[4]) noexcept {
  using B = xsimd::batch<float, Arch>;
  constexpr uint32_t W = static_cast<uint32_t>(B::size);
  B in[4], t[4];
  for (int b = 0; b < 4; ++b) in[b] = B::load_unaligned(src + b * W);
  transpose4x4_groups<Arch>(in, t);
  if constexpr (W == 4) {
    for (int j = 0; j < 4; ++j) out[j] = t[j];
  } else {
    using Mask = xsimd::batch<uint32_t, Arch>;
    constexpr auto order = xsimd::make_batch_constant<Mask, TileOrder<W>>();
    for (int j = 0; j < 4; ++j) out[j] = xsimd::swizzle(t[j], order);
  }
}

// The inverse of TileOrder: lane L takes lane (W/4)·(L mod 4) + L div 4.
template <uint32_t W>
struct RowOrder {
  static constexpr uint32_t get(uint32_t L, uint32_t) { return (W / 4) * (L % 4) + L / 4; }
};

// The inverse of deinterleave4: dst[4·k + j] = in[j][k] (k < W, j < 4). After
// the RowOrder permute, lane 4g + b of in'[j] is in[j][(W/4)·b + g], and
// transpose4x4_groups puts it at lane 4g + j of vector b, i.e. at
// dst[W·b + 4g + j] = dst[4·((W/4)·b + g) + j].
template <class Arch>
inline void interleave4(const xsimd::batch<float, Arch> in[4], float* dst) noexcept {
  using B = xsimd::batch<float, Arch>;
  constexpr uint32_t W = static_cast<uint32_t>(B::size);
  B p[4], t[4];
  if constexpr (W == 4) {
    for (int j = 0; j < 4; ++j) p[j] = in[j];
  } else {
    using Mask = xsimd::batch<uint32_t, Arch>;
    constexpr auto order = xsimd::make_batch_constant<Mask, RowOrder<W>>();
    for (int j = 0; j < 4; ++j) p[j] = xsimd::swizzle(in[j], order);
  }
  transpose4x4_groups<Arch>(p, t);
  for (int b = 0; b < 4; ++b) t[b].store_aligned(dst + b * W);
}

// dst[i] = src[i] for i < n: whole vectors, then single floats (the pieces
// are short, 4 … 60 floats, where a memcpy call costs more than the copy).
template <class Arch>
inline void copy_floats(float* dst, const float* src, int64_t n) noexcept {
  using B = xsimd::batch<float, Arch>;
  constexpr int64_t W = static_cast<int64_t>(B::size);
  int64_t i = 0;
  for (; i + W <= n; i += W) B::load_unaligned(src + i).store_unaligned(dst + i);
  if (i < n) detail::store_part<Arch>(detail::load_part<Arch>(src + i, n - i, n - i), dst + i, n - i);
}

// dst[i] = act(src[i] + z[i]) for i < n: the residual added in y's own
// layout, where it is read as contiguous rows.
template <class Arch, Act K>
inline void add_act_floats(float* dst, const float* src, const float* z, int64_t n, const ActParams& act) noexcept {
  using B = xsimd::batch<float, Arch>;
  constexpr int64_t W = static_cast<int64_t>(B::size);
  int64_t i = 0;
  for (; i + W <= n; i += W)
    detail::act_vec<K>(B::load_unaligned(src + i) + B::load_unaligned(z + i), act.alpha, act.beta).store_unaligned(dst + i);
  if (i < n) {
    const B v = detail::load_part<Arch>(src + i, n - i, n - i) + detail::load_part<Arch>(z + i, n - i, n - i);
    detail::store_part<Arch>(detail::act_vec<K>(v, act.alpha, act.beta), dst + i, n - i);
  }
}

// Lane indices 0, 1, … as floats (exact below 2^24).
template <class Arch>
inline xsimd::batch<float, Arch> lane_index() noexcept {
  using B = xsimd::batch<float, Arch>;
  alignas(64) float idx[B::size];
  for (size_t l = 0; l < B::size; ++l) idx[l] = static_cast<float>(l);
  return B::load_aligned(idx);
}

}  // namespace winograd_detail

template <class Arch>
void winograd_f4x3_input::operator()(Arch, const WinogradPlane& p, const float* x, int64_t t0, int64_t t1, float* row,
                                     int64_t n0, const WinogradColumns& cols, float* scratch) const noexcept {
  using B = xsimd::batch<float, Arch>;
  constexpr int64_t W = static_cast<int64_t>(B::size);
  constexpr int64_t kFront = detail::WinogradInputLayout::kFront;
  static_assert(W <= kFront);
  if (t0 >= t1) return;
  const detail::WinogradInputLayout l = detail::winograd_input_layout(p);
  const int64_t TW = p.TW, th0 = t0 / TW, th1 = (t1 - 1) / TW;  // tile rows touched
  auto plane = [&](int c, int q) { return scratch + (4 * c + q) * l.plane_floats + kFront; };

  // Q[c][q][(i − th0)·TW + tw] = x_padded[4·i + q, 4·tw + c] for the padded
  // rows 4·th0 … 4·th1 + 5 the tiles read (later rows of the last plane row
  // are never read by a kept lane). First every row is copied between zero
  // borders, then split: splitting a row right after copying it would load
  // whole vectors over the copy's narrower, differently aligned stores,
  // which the core cannot forward (that stall took a fifth of the kernel).
  const int64_t r0 = 4 * th0, r1 = 4 * th1 + 6;
  const int64_t pcols = 4 * TW + 2;  // padded columns the tiles read
  const int64_t lo = std::clamp<int64_t>(p.pad_left, 0, pcols), hi = std::clamp<int64_t>(p.pad_left + p.W, lo, pcols);
  float* prows = scratch + 24 * l.plane_floats;
  auto inside = [&](int64_t r) { return r - p.pad_top >= 0 && r - p.pad_top < p.H; };
  for (int64_t r = r0; r < r1; ++r) {
    if (!inside(r)) continue;
    float* pr = prows + (r - r0) * l.row_floats;
    // Columns past pcols feed only lanes past TW (overwritten later).
    for (int64_t k = 0; k < lo; ++k) pr[k] = 0.f;
    winograd_detail::copy_floats<Arch>(pr + lo, x + (r - p.pad_top) * p.W + (lo - p.pad_left), hi - lo);
    for (int64_t k = hi; k < pcols; ++k) pr[k] = 0.f;
  }
  for (int64_t r = r0; r < r1; ++r) {
    const int64_t i = r / 4 - th0;
    const int q = static_cast<int>(r % 4);
    if (!inside(r)) {
      for (int c = 0; c < 6; ++c) std::fill(plane(c, q) + i * TW, plane(c, q) + (i + 1) * TW, 0.f);
      continue;
    }
    const float* pr = prows + (r - r0) * l.row_floats;
    // Whole vectors: the last one runs past TW into the next plane row
    // (written after this one) or the planes' back slack.
    for (int64_t tw = 0; tw < TW; tw += W) {
      B ph[4], ph4[4];
      winograd_detail::deinterleave4<Arch>(pr + 4 * tw, ph);      // columns 4·tw + c, c < 4
      winograd_detail::deinterleave4<Arch>(pr + 4 * tw + 4, ph4);  // 4·(tw + 1) + c: c = 4, 5
      for (int c = 0; c < 4; ++c) ph[c].store_unaligned(plane(c, q) + i * TW + tw);
      for (int c = 4; c < 6; ++c) ph4[c - 4].store_unaligned(plane(c, q) + i * TW + tw);
    }
  }

  // Whole vectors of columns; lane k of the vector at column n is tile
  // t0 + (n + k − n0), i.e. plane offset (t0 − th0·TW) + (n − n0) + k.
  const int64_t cnt = t1 - t0, n_end = n0 + cnt;
  const B lane = winograd_detail::lane_index<Arch>();
  for (int64_t n = n0 / W * W; n < n_end; n += W) {
    const int64_t off = (t0 - th0 * TW) + (n - n0);
    B t[6][6];  // t[i][c] = (Bᵀ d)[i, c]
    for (int c = 0; c < 6; ++c) {
      B d[6];
      for (int r = 0; r < 6; ++r) d[r] = B::load_unaligned(plane(c, r % 4) + off + (r / 4) * TW);
      B col[6];
      winograd_detail::bt6(d, col);
      for (int i = 0; i < 6; ++i) t[i][c] = col[i];
    }
    float* out = row + (n / cols.nr) * cols.panel + n % cols.nr;
    if (n >= n0 && n + W <= n_end) {
      for (int i = 0; i < 6; ++i) {
        B v[6];
        winograd_detail::bt6(t[i], v);
        for (int j = 0; j < 6; ++j) v[j].store_unaligned(out + (6 * i + j) * cols.ld_xi);
      }
    } else {  // a partial vector: keep the columns outside [n0, n_end)
      const B col = lane + B(static_cast<float>(n));
      const auto own = (col >= B(static_cast<float>(n0))) && (col < B(static_cast<float>(n_end)));
      for (int i = 0; i < 6; ++i) {
        B v[6];
        winograd_detail::bt6(t[i], v);
        for (int j = 0; j < 6; ++j) {
          float* o = out + (6 * i + j) * cols.ld_xi;
          xsimd::select(own, v[j], B::load_unaligned(o)).store_unaligned(o);
        }
      }
    }
  }
}

template <class Arch>
void winograd_f4x3_output::operator()(Arch, const WinogradPlane& p, const float* m, int64_t ld_xi, int64_t t0,
                                      int64_t t1, float bias, const float* z, const ActParams& act,
                                      float* y) const noexcept {
  using B = xsimd::batch<float, Arch>;
  constexpr int64_t W = static_cast<int64_t>(B::size);
  static_assert(W - 1 <= kWinogradSlack && W % 4 == 0);
  if (t0 >= t1) return;
  detail::with_act(act.kind, [&](auto kind) {
    constexpr Act K = decltype(kind)::value;
    // One output row of the vector's tiles, tile k's 4 columns at 4·k: the
    // tiles of one tile row are then one contiguous piece of a y row.
    alignas(64) float buf[4 * W] = {};
    struct Run {
      int64_t k, len, y0, cols, rows;  // first lane, lanes, y offset of its corner, columns and rows inside
    } runs[W];
    for (int64_t k0 = 0, th = t0 / p.TW, tw = t0 % p.TW; k0 < t1 - t0; k0 += W) {
      const int64_t lanes = std::min(W, t1 - t0 - k0);
      int nruns = 0;
      for (int64_t k = 0; k < lanes;) {  // lanes in the same tile row
        const int64_t len = std::min(lanes - k, p.TW - tw);
        runs[nruns++] = {k, len, 4 * th * p.OW + 4 * tw, std::min(4 * len, p.OW - 4 * tw),
                         std::min<int64_t>(4, p.OH - 4 * th)};
        k += len;
        tw += len;
        if (tw == p.TW) tw = 0, ++th;
      }
      const float* src = m + k0;
      B s[4][6];  // s[a][j] = (Aᵀ M)[a, j]
      for (int j = 0; j < 6; ++j) {
        B col[6], o[4];
        for (int i = 0; i < 6; ++i) col[i] = B::load_unaligned(src + (6 * i + j) * ld_xi);
        winograd_detail::at6(col, o);
        for (int a = 0; a < 4; ++a) s[a][j] = o[a];
      }
      for (int a = 0; a < 4; ++a) {
        B o[4];
        winograd_detail::at6(s[a], o);
        for (int b = 0; b < 4; ++b) o[b] += B(bias);
        if (z) {  // the residual and the activation on y's rows (the same sums, in the same order)
          winograd_detail::interleave4<Arch>(o, buf);
          for (int r = 0; r < nruns; ++r)
            if (a < runs[r].rows) {
              const int64_t at = runs[r].y0 + a * p.OW;
              winograd_detail::add_act_floats<Arch, K>(y + at, buf + 4 * runs[r].k, z + at, runs[r].cols, act);
            }
          continue;
        }
        for (int b = 0; b < 4; ++b) o[b] = detail::act_vec<K>(o[b], act.alpha, act.beta);
        winograd_detail::interleave4<Arch>(o, buf);
        for (int r = 0; r < nruns; ++r)
          if (a < runs[r].rows)
            winograd_detail::copy_floats<Arch>(y + runs[r].y0 + a * p.OW, buf + 4 * runs[r].k, runs[r].cols);
      }
    }
  });
}
#pragma GCC diagnostic pop

}  // namespace kiln::simd

#define KILN_SIMD_WINOGRAD_INSTANTIATE(Arch)                                                                      \
  template void kiln::simd::winograd_f4x3_input::operator()<Arch>(                                               \
      Arch, const kiln::simd::WinogradPlane&, const float*, int64_t, int64_t, float*, int64_t,                   \
      const kiln::simd::WinogradColumns&, float*) const noexcept;                                                 \
  template void kiln::simd::winograd_f4x3_output::operator()<Arch>(                                               \
      Arch, const kiln::simd::WinogradPlane&, const float*, int64_t, int64_t, int64_t, float, const float*,        \
      const kiln::simd::ActParams&, float*) const noexcept;
