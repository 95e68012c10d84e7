// Body of conv_small_c_f32 (conv_small_c.h); included only by kernels/simd/instantiate.h.
#pragma once

#include <algorithm>
#include <cassert>
#include <cstring>
#include <type_traits>

#include "kernels/simd/activation_impl.h"
#include "kernels/simd/conv_small_c.h"

namespace kiln::simd {

namespace detail {

// Register block per arch: MB output channels × R output rows × V output
// vectors of accumulators, plus R·V input vectors. 32 vector registers
// (AVX-512, NEON): 8 × 2 × 1 = 16 accumulators, enough independent FMA chains
// to cover latency × 2 pipes, with 10 loads per 16 FMAs. 16 registers (AVX2,
// SSE2): 4 × 2 × 1 = 8 accumulators, 2 inputs and a broadcast register.
// Two rows rather than two column vectors: first layers have OW = 112
// (7 vectors of 16), which rows pair without a column tail.
template <class Arch>
struct small_c_block {
  static constexpr int MB = (std::is_same_v<Arch, xsimd::avx512f>
#if defined(__aarch64__)
                             || std::is_same_v<Arch, xsimd::neon64>
#endif
                             )
                                ? 8
                                : 4;
  static constexpr int R = 2;
  static constexpr int V = 1;
};

// dst[j] = x[j − pl] where 0 <= j − pl < w, else 0, for j < n. (Templated on
// the arch, as everything here, so that no per-arch copy is shared by name.)
template <class Arch>
void small_c_pad_row(const float* x, int64_t w, int64_t pl, float* dst, int64_t n) noexcept {
  const int64_t a = std::min(pl, n), b = std::min(pl + w, n);
  std::fill(dst, dst + a, 0.f);
  if (b > a) std::memcpy(dst + a, x + (a - pl), static_cast<size_t>(b - a) * sizeof(float));
  std::fill(dst + std::max(a, b), dst + n, 0.f);
}

// Copies input rows iy0 … iy0 + l.rows − 1 of every channel into the
// workspace, zero outside the plane (see SmallCLayout).
template <class Arch, int SW>
void small_c_fill(const SmallCConvParams& p, const SmallCLayout& l, const float* x, int64_t iy0, float* work) noexcept {
  for (int64_t r = 0; r < l.rows; ++r)
    for (int64_t c = 0; c < p.C; ++c) {
      float* row = work + (r * p.C + c) * l.row_floats;
      const int64_t iy = iy0 + r;
      if (iy < 0 || iy >= p.H) {
        std::fill(row, row + l.row_floats, 0.f);
        continue;
      }
      const float* src = x + (c * p.H + iy) * p.W;
      if constexpr (SW == 1) {
        small_c_pad_row<Arch>(src, p.W, p.pad_left, row, l.row_floats);
      } else {
        float* stage = work + l.stage;
        small_c_pad_row<Arch>(src, p.W, p.pad_left, stage, 2 * l.half);
        float* odd = row + l.half;
        for (int64_t j = 0; j < l.half; ++j) {  // a stride-2 split the compiler vectorizes
          row[j] = stage[2 * j];
          odd[j] = stage[2 * j + 1];
        }
      }
    }
}

// Adds the residual, applies the in-register activation and stores `cnt`
// outputs (a whole vector, or the row's last, partial one through a buffer).
template <Act A, class B>
inline void small_c_store(B acc, const float* z, float* y, int64_t cnt, const ActParams& act) noexcept {
  constexpr int64_t W = static_cast<int64_t>(B::size);
  if (cnt == W) {
    if (z) acc += B::load_unaligned(z);
    act_vec<A>(acc, act.alpha, act.beta).store_unaligned(y);
    return;
  }
  alignas(64) float buf[W] = {};
  if (z) {
    for (int64_t i = 0; i < cnt; ++i) buf[i] = z[i];
    acc += B::load_aligned(buf);
  }
  act_vec<A>(acc, act.alpha, act.beta).store_aligned(buf);
  for (int64_t i = 0; i < cnt; ++i) y[i] = buf[i];
}

// Geometry a block needs, fixed for one call.
struct SmallCStep {
  int64_t row_floats, half;
  int64_t row_step;   // workspace floats between two output rows: SH·C·row_floats
  int64_t plane;      // OH·OW
};

// One register block: output channels m0 … m0 + mcnt − 1 (w and bias point at
// m0's; bias holds MB values, 0 past the last channel), rows oy … oy + R − 1,
// columns ox … ox + V·lanes − 1 (of which `ocnt` exist). `in` is the
// workspace at (output row oy's first input row, column ox); y and z at
// (m0, oy, ox). Every accumulator starts from the bias and adds the taps in
// the order (c, ky, kx), whatever block or call it is in.
template <class Arch, int SW, int KT, int MB, int R, int V, Act A>
void small_c_block_run(const SmallCConvParams& p, const SmallCStep& s, const float* in, const float* w,
                       const float* bias, int64_t mcnt, int64_t ocnt, const float* z, float* y) noexcept {
  using B = xsimd::batch<float, Arch>;
  constexpr int64_t L = static_cast<int64_t>(B::size);
  B acc[MB][R * V];
  for (int m = 0; m < MB; ++m) {
    const B b0(bias[m]);
    for (int i = 0; i < R * V; ++i) acc[m][i] = b0;
  }
  // Tap (c, ky, kx) reads `row` + column offset; its weights are wp[0 … MB).
  auto tap = [&](const float* row, int64_t kx, const float* wp) {
    // SW = 2: padded column 2·ox + kx is entry ox + kx/2 of half kx mod 2.
    const float* q = SW == 1 ? row + kx : row + (kx & 1) * s.half + (kx >> 1);
    B xv[R * V];
    for (int r = 0; r < R; ++r)
      for (int v = 0; v < V; ++v) xv[r * V + v] = B::load_unaligned(q + r * s.row_step + v * L);
    for (int m = 0; m < MB; ++m) {
      const B wv(wp[m]);
      for (int i = 0; i < R * V; ++i) acc[m][i] = xsimd::fma(xv[i], wv, acc[m][i]);
    }
  };
  const float* wp = w;
  for (int64_t c = 0; c < p.C; ++c) {
    if constexpr (KT > 0 && KT <= 3) {
      // A small known kernel: constant row and column offsets, no loop
      // control per tap (for 3×3, 9 taps are most of a block's work).
#pragma GCC unroll 4
      for (int ky = 0; ky < KT; ++ky) {
        const float* row = in + (ky * p.C + c) * s.row_floats;
#pragma GCC unroll 4
        for (int kx = 0; kx < KT; ++kx) tap(row, kx, wp + (ky * KT + kx) * kSmallCPackM);
      }
      wp += KT * KT * kSmallCPackM;
    } else if constexpr (KT > 0) {
      // A larger one: columns unrolled, rows looped (unrolling all 49 taps
      // of a 7×7 measured ~9 % slower: code size).
      for (int ky = 0; ky < KT; ++ky, wp += KT * kSmallCPackM) {
        const float* row = in + (ky * p.C + c) * s.row_floats;
#pragma GCC unroll 8
        for (int kx = 0; kx < KT; ++kx) tap(row, kx, wp + kx * kSmallCPackM);
      }
    } else {
      for (int64_t ky = 0; ky < p.KH; ++ky) {
        const float* row = in + (ky * p.C + c) * s.row_floats;
        for (int64_t kx = 0; kx < p.KW; ++kx, wp += kSmallCPackM) tap(row, kx, wp);
      }
    }
  }
  for (int m = 0; m < MB; ++m) {
    if (m >= mcnt) break;
    for (int r = 0; r < R; ++r)
      for (int v = 0; v < V; ++v) {
        const int64_t o = m * s.plane + r * p.OW + v * L;
        const int64_t cnt = std::min<int64_t>(L, ocnt - v * L);
        if (cnt <= 0) break;
        small_c_store<A>(acc[m][r * V + v], z ? z + o : nullptr, y + o, cnt, p.act);
      }
  }
}

template <class Arch, int SW, int KT, Act A>
void small_c_rows(const SmallCConvParams& p, const float* x, const float* w, const float* bias, const float* z,
                  float* y, int64_t oy0, int64_t oy1, float* work) noexcept {
  using B = xsimd::batch<float, Arch>;
  constexpr int64_t L = static_cast<int64_t>(B::size);
  constexpr int MB = small_c_block<Arch>::MB, R = small_c_block<Arch>::R, V = small_c_block<Arch>::V;
  static_assert(kSmallCPackM % MB == 0, "a register block lies inside one packed block");
  const int64_t rows = oy1 - oy0;
  const SmallCLayout l = small_c_layout(p, rows);
  small_c_fill<Arch, SW>(p, l, x, oy0 * p.stride_h - p.pad_top, work);

  const SmallCStep s{l.row_floats, l.half, p.stride_h * p.C * l.row_floats, p.OH * p.OW};
  const int64_t T = p.C * p.KH * p.KW, nvec = (p.OW + L - 1) / L;
  for (int64_t ol = 0; ol < rows; ol += R) {
    const bool full_rows = ol + R <= rows;
    const float* in_row = work + ol * s.row_step;
    for (int64_t m0 = 0; m0 < p.M; m0 += MB) {
      const float* wb = w + (m0 / kSmallCPackM) * T * kSmallCPackM + m0 % kSmallCPackM;
      const int64_t mcnt = std::min<int64_t>(MB, p.M - m0);
      alignas(64) float bb[MB] = {};
      if (bias) std::copy(bias + m0, bias + m0 + mcnt, bb);
      const int64_t yoff = m0 * s.plane + (oy0 + ol) * p.OW;
      // R rows (or the band's last rows one at a time) × NV vectors at column ox.
      auto block = [&](auto nv, int64_t ox) {
        constexpr int NV = decltype(nv)::value;
        const int64_t o = yoff + ox;
        const float* zb = z ? z + o : nullptr;
        if (full_rows) {
          small_c_block_run<Arch, SW, KT, MB, R, NV, A>(p, s, in_row + ox, wb, bb, mcnt, p.OW - ox, zb, y + o);
          return;
        }
        for (int64_t r = 0; r < rows - ol; ++r)
          small_c_block_run<Arch, SW, KT, MB, 1, NV, A>(p, s, in_row + r * s.row_step + ox, wb, bb, mcnt, p.OW - ox,
                                                    zb ? zb + r * p.OW : nullptr, y + o + r * p.OW);
      };
      // Blocks of V vectors, then single ones: the workspace holds whole
      // vectors up to OW rounded up to the lanes, no further.
      int64_t v = 0;
      for (; v + V <= nvec; v += V) block(std::integral_constant<int, V>{}, v * L);
      for (; v < nvec; ++v) block(std::integral_constant<int, 1>{}, v * L);
    }
  }
  // Costly activations run over the finished rows of each channel while they
  // are in cache (one instantiation of the loops above serves all of them).
  if (A == Act::None && p.act.kind != Act::None)
    for (int64_t m = 0; m < p.M; ++m) {
      float* ym = y + m * s.plane + oy0 * p.OW;
      activation_f32{}(Arch{}, p.act, ym, ym, rows * p.OW);
    }
}

template <class Arch, int SW, int KT>
void small_c_with_act(const SmallCConvParams& p, const float* x, const float* w, const float* bias, const float* z,
                      float* y, int64_t oy0, int64_t oy1, float* work) noexcept {
  switch (p.act.kind) {
    case Act::Relu: return small_c_rows<Arch, SW, KT, Act::Relu>(p, x, w, bias, z, y, oy0, oy1, work);
    case Act::LeakyRelu: return small_c_rows<Arch, SW, KT, Act::LeakyRelu>(p, x, w, bias, z, y, oy0, oy1, work);
    case Act::Clip: return small_c_rows<Arch, SW, KT, Act::Clip>(p, x, w, bias, z, y, oy0, oy1, work);
    case Act::HardSigmoid: return small_c_rows<Arch, SW, KT, Act::HardSigmoid>(p, x, w, bias, z, y, oy0, oy1, work);
    case Act::HardSwish: return small_c_rows<Arch, SW, KT, Act::HardSwish>(p, x, w, bias, z, y, oy0, oy1, work);
    default: return small_c_rows<Arch, SW, KT, Act::None>(p, x, w, bias, z, y, oy0, oy1, work);  // none, or a row pass
  }
}

}  // namespace detail

template <class Arch>
void conv_small_c_f32::operator()(Arch, const SmallCConvParams& p, const float* x, const float* w, const float* bias,
                                  const float* z, float* y, int64_t oy0, int64_t oy1, float* work) const noexcept {
  assert(conv_small_c_supported(p) && 0 <= oy0 && oy0 < oy1 && oy1 <= p.OH);
  // The first layers' kernels (K × K, K = 3 or 7) get their tap loops
  // unrolled; others loop.
  auto run = [&](auto sw, auto kw) {
    detail::small_c_with_act<Arch, decltype(sw)::value, decltype(kw)::value>(p, x, w, bias, z, y, oy0, oy1, work);
  };
  using std::integral_constant;
  if (p.stride_w == 1) {
    if (p.KW == 3 && p.KH == 3) run(integral_constant<int, 1>{}, integral_constant<int, 3>{});
    else run(integral_constant<int, 1>{}, integral_constant<int, 0>{});
  } else {
    if (p.KW == 3 && p.KH == 3) run(integral_constant<int, 2>{}, integral_constant<int, 3>{});
    else if (p.KW == 7 && p.KH == 7) run(integral_constant<int, 2>{}, integral_constant<int, 7>{});
    else run(integral_constant<int, 2>{}, integral_constant<int, 0>{});
  }
}

}  // namespace kiln::simd

#define KILN_SIMD_CONV_SMALL_C_INSTANTIATE(Arch)                                                                     \
  template void kiln::simd::conv_small_c_f32::operator()<Arch>(Arch, const kiln::simd::SmallCConvParams&,         \
                                                               const float*, const float*, const float*,           \
                                                               const float*, float*, int64_t, int64_t, float*)    \
      const noexcept;
