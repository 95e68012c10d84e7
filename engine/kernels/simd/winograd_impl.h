// Bodies of the Winograd F(4×4, 3×3) transforms (winograd.h); included only by
// kernels/simd/instantiate.h.
#pragma once

#include <algorithm>
#include <cstring>

#include "kernels/simd/activation_impl.h"
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

}  // namespace winograd_detail

template <class Arch>
void winograd_f4x3_input::operator()(Arch, const WinogradPlane& p, const float* x, int64_t t0, int64_t t1, float* v,
                                     int64_t ld_xi, float* phase) const noexcept {
  using B = xsimd::batch<float, Arch>;
  constexpr int64_t W = static_cast<int64_t>(B::size);
  static_assert(W - 1 <= kWinogradSlack);
  if (t0 >= t1) return;
  const detail::WinogradPhaseLayout l = detail::winograd_phase_layout(p);
  const int64_t th0 = t0 / p.TW, th1 = (t1 - 1) / p.TW;  // tile rows touched
  // Phase split of the padded rows these tiles read: slot j of phase q is
  // column 4·j + q − pad_left (0 outside the plane, and in the slack).
  for (int64_t r = 4 * th0; r < 4 * th1 + 6; ++r) {
    const int64_t ih = r - p.pad_top;
    float* dst[4];
    for (int q = 0; q < 4; ++q) dst[q] = phase + (q * l.rows + r) * l.row_floats;
    if (ih < 0 || ih >= p.H) {
      for (int q = 0; q < 4; ++q) std::fill(dst[q], dst[q] + l.row_floats, 0.f);
      continue;
    }
    const float* xr = x + ih * p.W;
    for (int64_t j = 0; j < l.row_floats; ++j)
      for (int q = 0; q < 4; ++q) {
        const int64_t iw = 4 * j + q - p.pad_left;
        dst[q][j] = iw >= 0 && iw < p.W ? xr[iw] : 0.f;
      }
  }
  // Whole vectors of tiles along each tile row, in increasing t.
  for (int64_t th = th0; th <= th1; ++th) {
    const int64_t tw_end = std::min(p.TW, t1 - th * p.TW);
    for (int64_t tw = std::max<int64_t>(0, t0 - th * p.TW); tw < tw_end; tw += W) {
      // Entry (r, c) of tiles tw … tw+W−1 is slot tw + c/4 of phase c%4, row 4·th + r.
      B t[6][6];  // t[i][c] = (Bᵀ d)[i, c]
      for (int c = 0; c < 6; ++c) {
        const float* src = phase + ((c % 4) * l.rows + 4 * th) * l.row_floats + tw + c / 4;
        B d[6];
        for (int r = 0; r < 6; ++r) d[r] = B::load_unaligned(src + r * l.row_floats);
        B col[6];
        winograd_detail::bt6(d, col);
        for (int i = 0; i < 6; ++i) t[i][c] = col[i];
      }
      float* out = v + th * p.TW + tw - t0;
      for (int i = 0; i < 6; ++i) {
        B row[6];
        winograd_detail::bt6(t[i], row);
        for (int j = 0; j < 6; ++j) row[j].store_unaligned(out + (6 * i + j) * ld_xi);
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
  static_assert(W - 1 <= kWinogradSlack);
  if (t0 >= t1) return;
  detail::with_act(act.kind, [&](auto kind) {
    constexpr Act K = decltype(kind)::value;
    const int64_t th0 = t0 / p.TW, th1 = (t1 - 1) / p.TW;
    for (int64_t th = th0; th <= th1; ++th) {
      const int64_t tw_end = std::min(p.TW, t1 - th * p.TW);
      for (int64_t tw = std::max<int64_t>(0, t0 - th * p.TW); tw < tw_end; tw += W) {
        const float* src = m + th * p.TW + tw - t0;
        B s[4][6];  // s[a][j] = (Aᵀ M)[a, j]
        for (int j = 0; j < 6; ++j) {
          B col[6], o[4];
          for (int i = 0; i < 6; ++i) col[i] = B::load_unaligned(src + (6 * i + j) * ld_xi);
          winograd_detail::at6(col, o);
          for (int a = 0; a < 4; ++a) s[a][j] = o[a];
        }
        // Output columns 4·tw … of the tiles inside the plane.
        const int64_t ow0 = 4 * tw, lanes = std::min(W, tw_end - tw), cols = std::min(4 * lanes, p.OW - ow0);
        for (int a = 0; a < 4; ++a) {
          const int64_t oh = 4 * th + a;
          if (oh >= p.OH) break;
          B o[4];
          winograd_detail::at6(s[a], o);
          // Interleave lanes back into the row: tile l, column b → 4·l + b.
          alignas(64) float per_col[4][W];
          alignas(64) float row[4 * W];
          for (int b = 0; b < 4; ++b) (o[b] + B(bias)).store_aligned(per_col[b]);
          for (int64_t ln = 0; ln < lanes; ++ln)
            for (int b = 0; b < 4; ++b) row[4 * ln + b] = per_col[b][ln];
          float* yr = y + oh * p.OW + ow0;
          const float* zr = z ? z + oh * p.OW + ow0 : nullptr;
          int64_t k = 0;
          for (; k + W <= cols; k += W) {
            B val = B::load_aligned(row + k);
            if (zr) val += B::load_unaligned(zr + k);
            detail::act_vec<K>(val, act.alpha, act.beta).store_unaligned(yr + k);
          }
          if (k < cols) {  // the row's tail through the padded buffer
            alignas(64) float tail[W] = {};
            std::memcpy(tail, row + k, (cols - k) * sizeof(float));
            B val = B::load_aligned(tail);
            if (zr) {
              alignas(64) float zt[W] = {};
              std::memcpy(zt, zr + k, (cols - k) * sizeof(float));
              val += B::load_aligned(zt);
            }
            detail::act_vec<K>(val, act.alpha, act.beta).store_aligned(tail);
            std::memcpy(yr + k, tail, (cols - k) * sizeof(float));
          }
        }
      }
    }
  });
}

}  // namespace kiln::simd

#define KILN_SIMD_WINOGRAD_INSTANTIATE(Arch)                                                                      \
  template void kiln::simd::winograd_f4x3_input::operator()<Arch>(Arch, const kiln::simd::WinogradPlane&,       \
                                                                  const float*, int64_t, int64_t, float*, int64_t, \
                                                                  float*) const noexcept;                          \
  template void kiln::simd::winograd_f4x3_output::operator()<Arch>(                                               \
      Arch, const kiln::simd::WinogradPlane&, const float*, int64_t, int64_t, int64_t, float, const float*,        \
      const kiln::simd::ActParams&, float*) const noexcept;
