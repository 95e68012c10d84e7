// Body of the packed SGEMM (gemm.h); included only by kernels/simd/instantiate.h.
//
// Loop nest of sgemm_compute (BLIS-style, with the micro-panel of A kept hot):
//   for each nc-wide column block jc            B block kb × nc: ~384 KiB, stays in L2
//     for each kc-deep K block p                (packed once, reused by every row tile)
//       for each mc-tall row block ic           A block packed (or read prepacked)
//         for each mr row panel ir              A micro-panel kb × mr: 8 KiB, stays in L1
//           for each nr column panel jr         B micro-panel streams from L2
//             mr × nr tile in registers; alpha, C, the biases and the residual
//             are added on the registers before the single store, and the
//             activation (after the last K block) runs over the stored tile
//             while it is still in L1.
// With trans_c the running sums of a row block live in a scratch of mc·nc
// floats (the ic block is then the outer loop of the K blocks, the column
// block as wide as the scratch allows, and jr the outer tile loop), and the
// last K block writes each tile transposed, epilogue included
// (store_transposed).
#pragma once

#include <algorithm>
#include <cstring>
#include <type_traits>

#if defined(__x86_64__)
#include <immintrin.h>  // store_transposed's AVX-512 path (compiled only in the avx512f file)
#endif

#include "kernels/simd/activation_impl.h"
#include "kernels/simd/gemm.h"
#include "kernels/simd/partial_impl.h"
#include "kernels/simd/transpose_impl.h"

namespace kiln::simd {
namespace gemm_detail {

// Register tile per arch: NV vectors wide (nr = NV·width), MR rows. With 32
// vector registers (AVX-512, NEON) 8×3 accumulators leave room for the three
// B vectors and a broadcast; with 16 (AVX2, SSE2) 6×2 do.
template <class Arch>
struct Tile {
  static constexpr bool wide_file =
      std::is_base_of_v<xsimd::avx512f, Arch>
#if defined(__aarch64__)
      || std::is_same_v<Arch, xsimd::neon64>
#endif
      ;
  static constexpr int MR = wide_file ? 8 : 6;
  static constexpr int NV = wide_file ? 3 : 2;
  static constexpr int W = static_cast<int>(xsimd::batch<float, Arch>::size);
  static constexpr int NR = NV * W;
};

constexpr int64_t kKc = 256;          // K block: A micro-panel 8×256 floats = 8 KiB (L1)
constexpr int64_t kMcRows = 240;      // A block rows (a multiple of every MR)
constexpr int64_t kDirectBMaxRows = 64;  // see sgemm_compute
constexpr int64_t kNcCols = 384;      // B block columns before rounding to NR: 256×384 floats = 384 KiB (L2)

template <class Arch>
constexpr GemmBlocking blocking() {
  using T = Tile<Arch>;
  const int64_t nc = (kNcCols + T::NR - 1) / T::NR * T::NR;
  return GemmBlocking{T::MR, T::NR, kKc, kMcRows, nc, kMcRows * kKc + kKc * nc + kMcRows * nc + 64, T::W};
}

// GCC 12 flags the _mm512_undefined_ps inside its own AVX-512 max/min/select
// intrinsics as "maybe uninitialized" here; the lanes it means are never read.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"

// The activation of one vector (activation_impl.h's definitions), for the
// partial tiles' scalar path; loops dispatch once with detail::with_act.
template <class Arch>
inline xsimd::batch<float, Arch> activate(xsimd::batch<float, Arch> x, const GemmEpilogue& ep) noexcept {
  xsimd::batch<float, Arch> y = x;
  detail::with_act(act_of(ep.act), [&](auto k) { y = detail::act_vec<decltype(k)::value>(x, ep.act_alpha, ep.act_beta); });
  return y;
}

// One vector of the epilogue: v = alpha·acc (+ C) and, after the last K
// block, + row bias + column bias + residual. The pointers address `W`
// valid floats (the caller pads partial vectors). The activation follows in
// activate_tile.
template <class Arch>
xsimd::batch<float, Arch> finish(xsimd::batch<float, Arch> acc, const float* c_old, const float* col_bias,
                                 const float* residual, float row_bias, bool last, const GemmEpilogue& ep) noexcept {
  using B = xsimd::batch<float, Arch>;
  B x = acc * B(ep.alpha);
  if (c_old) x += B::load_unaligned(c_old);
  if (last) {
    if (ep.row_bias) x += B(row_bias);
    if (col_bias) x += B::load_unaligned(col_bias);
    if (residual) x += B::load_unaligned(residual);
  }
  return x;
}

// The activation over the tile just stored (still in L1), chosen once per
// tile. Kept out of line: inlined next to the FMA loop, exp/tanh for every
// accumulator bloat the function until the compiler spills accumulators
// inside the K loop.
template <class Arch>
__attribute__((noinline)) void activate_tile(float* c, int64_t ldc, int64_t mr, int64_t nr,
                                             const GemmEpilogue& ep) noexcept {
  using B = xsimd::batch<float, Arch>;
  constexpr int64_t W = static_cast<int64_t>(B::size);
  detail::with_act(act_of(ep.act), [&](auto k) {
    constexpr Act K = decltype(k)::value;
    for (int64_t i = 0; i < mr; ++i) {
      float* row = c + i * ldc;
      int64_t j = 0;
      for (; j + W <= nr; j += W)
        detail::act_vec<K>(B::load_unaligned(row + j), ep.act_alpha, ep.act_beta).store_unaligned(row + j);
      if (j < nr) {
        alignas(64) float tmp[W] = {};
        std::memcpy(tmp, row + j, (nr - j) * sizeof(float));
        detail::act_vec<K>(B::load_aligned(tmp), ep.act_alpha, ep.act_beta).store_aligned(tmp);
        std::memcpy(row + j, tmp, (nr - j) * sizeof(float));
      }
    }
  });
}

// Transposed store of one tile (trans_c) after its last K block: t is the
// tile as the registers held it (MR × NR floats, row i = output row
// row + i, already alpha·Σ); adds the biases on those rows, then C's old
// value (accumulate) and the residual, both read transposed, applies the
// activation and writes element (i, j) to c[(col + j)·ldc + row + i]. Out of
// line, like activate_tile, to keep the FMA loop's registers.
template <class Arch>
__attribute__((noinline)) void store_transposed(float* t, int64_t mr, int64_t nr, const GemmEpilogue& ep, float* c,
                                                int64_t ldc, int64_t row, int64_t col) noexcept {
  using B = xsimd::batch<float, Arch>;
  using T = Tile<Arch>;
  constexpr int MR = T::MR, NR = T::NR, W = T::W;
  if (ep.row_bias || ep.col_bias) {
    alignas(64) float cb[NR] = {};
    if (ep.col_bias) std::memcpy(cb, ep.col_bias + col, nr * sizeof(float));
    for (int64_t i = 0; i < mr; ++i) {
      const B rb(ep.row_bias ? ep.row_bias[row + i] : 0.f);
      for (int64_t j = 0; j < nr; j += W) (B::load_aligned(t + i * NR + j) + rb + B::load_aligned(cb + j)).store_aligned(t + i * NR + j);
    }
  }
  const bool act = ep.act != GemmActivation::None;
#if defined(__x86_64__)
  if constexpr (std::is_base_of_v<xsimd::avx512f, Arch> && MR == 8 && W == 16) {
    // 8 rows × 16 columns → 8 vectors of two output columns × 8 rows each:
    // pairs (unpack ps), quads (unpack pd) inside 128-bit lanes, then lanes
    // across two registers (permutex2var). Each result holds columns j, j+4
    // (or j+8, j+12) in its low and high halves; masked loads/stores touch
    // only the mr valid rows.
    const __mmask16 m = static_cast<__mmask16>((1u << mr) - 1);
    const __m512i lo_idx = _mm512_setr_epi32(0, 1, 2, 3, 16, 17, 18, 19, 4, 5, 6, 7, 20, 21, 22, 23);
    const __m512i hi_idx = _mm512_setr_epi32(8, 9, 10, 11, 24, 25, 26, 27, 12, 13, 14, 15, 28, 29, 30, 31);
    auto both = [&](const float* base, int64_t ld, int64_t ja, int64_t jb) {  // columns ja (low half), jb (high half)
      const __m512 la = _mm512_maskz_loadu_ps(m, base + (col + ja) * ld + row);
      const __m512 lb = jb < nr ? _mm512_maskz_loadu_ps(m, base + (col + jb) * ld + row) : _mm512_setzero_ps();
      return _mm512_shuffle_f32x4(la, lb, 0x44);
    };
    detail::with_act(act_of(ep.act), [&](auto k) {
      constexpr Act K = decltype(k)::value;
      auto out = [&](__m512 v, int64_t ja, int64_t jb) {
        if (ja >= nr) return;
        if (ep.accumulate) v = _mm512_add_ps(v, both(c, ldc, ja, jb));
        if (ep.residual) v = _mm512_add_ps(v, both(ep.residual, ep.ld_residual, ja, jb));
        v = detail::act_vec<K>(B(v), ep.act_alpha, ep.act_beta);
        _mm512_mask_storeu_ps(c + (col + ja) * ldc + row, m, v);
        if (jb < nr) _mm512_mask_storeu_ps(c + (col + jb) * ldc + row, m, _mm512_shuffle_f32x4(v, v, 0xEE));
      };
      for (int64_t j0 = 0; j0 < nr; j0 += 16) {
        __m512 r[8], u[8];
        for (int i = 0; i < 8; ++i) r[i] = _mm512_load_ps(t + i * NR + j0);
        for (int h = 0; h < 2; ++h) {  // rows 4h … 4h+3
          const __m512d t0 = _mm512_castps_pd(_mm512_unpacklo_ps(r[4 * h], r[4 * h + 1]));
          const __m512d t1 = _mm512_castps_pd(_mm512_unpackhi_ps(r[4 * h], r[4 * h + 1]));
          const __m512d t2 = _mm512_castps_pd(_mm512_unpacklo_ps(r[4 * h + 2], r[4 * h + 3]));
          const __m512d t3 = _mm512_castps_pd(_mm512_unpackhi_ps(r[4 * h + 2], r[4 * h + 3]));
          u[4 * h + 0] = _mm512_castpd_ps(_mm512_unpacklo_pd(t0, t2));  // lane l: column 4l, rows 4h…4h+3
          u[4 * h + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(t0, t2));  // column 4l+1
          u[4 * h + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(t1, t3));  // column 4l+2
          u[4 * h + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(t1, t3));  // column 4l+3
        }
        for (int q = 0; q < 4; ++q) {
          out(_mm512_permutex2var_ps(u[q], lo_idx, u[q + 4]), j0 + q, j0 + q + 4);
          out(_mm512_permutex2var_ps(u[q], hi_idx, u[q + 4]), j0 + q + 8, j0 + q + 12);
        }
      }
    });
  } else
#endif
  {
    constexpr int L = (MR + W - 1) / W * W;
    for (int64_t j = 0; j < nr; ++j) {
      alignas(64) float v[L] = {};
      float* cj = c + (col + j) * ldc + row;
      const float* rj = ep.residual ? ep.residual + (col + j) * ep.ld_residual + row : nullptr;
      for (int64_t i = 0; i < mr; ++i) v[i] = t[i * NR + j] + (ep.accumulate ? cj[i] : 0.f) + (rj ? rj[i] : 0.f);
      if (act)
        for (int u = 0; u < L; u += W) activate<Arch>(B::load_aligned(v + u), ep).store_aligned(v + u);
      std::memcpy(cj, v, mr * sizeof(float));
    }
  }
}

#pragma GCC diagnostic pop

// The A side of a tile: a packed micro-panel (a: kb × MR, k-major) or, for
// an im2col A' of an unpadded input read in place (no packing at all), the
// panel's MR row pointers (each output position's receptive-field origin in
// X) and the K block's tap offsets: A'[row i, k] = rows[i][offs[k]].
struct APanel {
  const float* a = nullptr;
  const float* const* rows = nullptr;
  const int64_t* offs = nullptr;
};

// acc[MRv][NV] += the first MRv rows of the A micro-panel (kb × MR) · the
// first NV vectors of the B micro-panel (b: kb rows of stride NR), then the
// epilogue and the store of the valid mr × nr corner at c (row stride ldc);
// (row, col) is the tile's position in the whole problem (for biases and the
// residual). NV < Tile::NV serves narrow right-edge panels (N = 196 = 4·48 + 4
// would otherwise spend a sixth of its FMAs on padding), MRv < MR short
// bottom edges (a transposed 7² conv has 49 = 6·8 + 1 rows).
// pf, when not null (and A is read in place): kb cache lines from there are
// prefetched, one per k.
// With trans_c (tc), c is the row block's scratch of running sums (always
// room for the whole MRv × NV·W tile, aligned): blocks before the last add
// into it; the last sends the tile to store_transposed.
template <class Arch, int MRv, int NV, bool Ind>
void tile(int64_t kb, const APanel& ap, const float* b, int64_t ldbk, float* c, int64_t ldc, int64_t mr, int64_t nr, bool load_c,
          bool last, const GemmEpilogue& ep, int64_t row, int64_t col, const SgemmProblem* tc,
          const float* pf) noexcept {
  using B = xsimd::batch<float, Arch>;
  using T = Tile<Arch>;
  constexpr int MR = T::MR, W = T::W, NR = T::NR;
  B acc[MRv][NV];
#pragma GCC unroll 16
  for (int i = 0; i < MRv; ++i)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) acc[i][v] = B(0.f);
  const float* a = ap.a;
  const float* rows[MRv];
  if constexpr (Ind)
    for (int i = 0; i < MRv; ++i) rows[i] = ap.rows[i];
  for (int64_t k = 0; k < kb; ++k) {
    B bv[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) bv[v] = B::load_unaligned(b + k * ldbk + v * W);
    if constexpr (Ind)  // the transposed conv's in-place A; the direct path's loop stays as it was
      if (pf) __builtin_prefetch(pf + k * 16, 0, 3);  // one cache line per k (see sgemm_compute)
    [[maybe_unused]] const int64_t o = Ind ? ap.offs[k] : 0;
#pragma GCC unroll 16
    for (int i = 0; i < MRv; ++i) {
      const B ai(Ind ? rows[i][o] : a[k * MR + i]);
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) acc[i][v] = xsimd::fma(ai, bv[v], acc[i][v]);
    }
  }

  if (tc) {
    // Running sums go back to the row block's buffer c; after the last K
    // block the tile goes to t for the transposing store.
    alignas(64) float t[MR * NR];
    float* d = last ? t : c;
    const int64_t ldd = last ? NR : ldc;
#pragma GCC unroll 16
    for (int i = 0; i < MRv; ++i)
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v)
        finish<Arch>(acc[i][v], load_c ? c + i * ldc + v * W : nullptr, nullptr, nullptr, 0.f, false, ep)
            .store_aligned(d + i * ldd + v * W);
    if (!last) return;
    for (int i = MRv; i < MR; ++i)  // rows the transposing store reads but never writes
      for (int v = 0; v < NV; ++v) B(0.f).store_aligned(t + i * NR + v * W);
    for (int i = 0; i < MR; ++i)
      for (int v = NV; v < T::NV; ++v) B(0.f).store_aligned(t + i * NR + v * W);
    store_transposed<Arch>(t, mr, nr, ep, tc->c, tc->ldc, row, col);
    return;
  }

  const float* res = last && ep.residual ? ep.residual + row * ep.ld_residual + col : nullptr;
  const float* cb = last && ep.col_bias ? ep.col_bias + col : nullptr;
  if (mr == MRv && nr == NV * W) {  // full tile: the epilogue runs on the registers
    // The piecewise-linear activations too; the costly ones follow over the
    // stored tile (activate_tile).
    auto store = [&](auto act) {
      constexpr GemmActivation K = decltype(act)::value;
#pragma GCC unroll 16
      for (int i = 0; i < MRv; ++i) {
        float* crow = c + i * ldc;
        const float rb = last && ep.row_bias ? ep.row_bias[row + i] : 0.f;
#pragma GCC unroll 4
        for (int v = 0; v < NV; ++v) {
          B x = finish<Arch>(acc[i][v], load_c ? crow + v * W : nullptr, cb ? cb + v * W : nullptr,
                             res ? res + i * ep.ld_residual + v * W : nullptr, rb, last, ep);
          if constexpr (K == GemmActivation::Relu) x = detail::act_vec<Act::Relu>(x, 0.f, 0.f);
          if constexpr (K == GemmActivation::Clip) x = detail::act_vec<Act::Clip>(x, ep.act_alpha, ep.act_beta);
          x.store_unaligned(crow + v * W);
        }
      }
    };
    using GA = GemmActivation;
    const GA a = last ? ep.act : GA::None;
    if (a == GA::Relu) store(std::integral_constant<GA, GA::Relu>{});
    else if (a == GA::Clip) store(std::integral_constant<GA, GA::Clip>{});
    else store(std::integral_constant<GA, GA::None>{});
    if (a != GA::None && a != GA::Relu && a != GA::Clip) activate_tile<Arch>(c, ldc, mr, nr, ep);
    return;
  }
  // Partial tile (the bottom or right edge of C): spill the accumulators and
  // run the same epilogue on zero-padded copies of the valid columns.
  alignas(64) float spill[MRv * NR];
#pragma GCC unroll 16
  for (int i = 0; i < MRv; ++i)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) acc[i][v].store_aligned(spill + i * NR + v * W);
  for (int64_t i = 0; i < mr; ++i) {
    float* crow = c + i * ldc;
    const float rb = last && ep.row_bias ? ep.row_bias[row + i] : 0.f;
    for (int64_t j = 0; j < nr; j += W) {
      const int64_t n = std::min<int64_t>(W, nr - j);
      alignas(64) float c_old[W] = {}, cbias[W] = {}, r[W] = {}, out[W];
      if (load_c) std::memcpy(c_old, crow + j, n * sizeof(float));
      if (cb) std::memcpy(cbias, cb + j, n * sizeof(float));
      if (res) std::memcpy(r, res + i * ep.ld_residual + j, n * sizeof(float));
      finish<Arch>(B::load_aligned(spill + i * NR + j), load_c ? c_old : nullptr, cb ? cbias : nullptr,
                   res ? r : nullptr, rb, last, ep)
          .store_aligned(out);
      std::memcpy(crow + j, out, n * sizeof(float));
    }
  }
  if (last && ep.act != GemmActivation::None) activate_tile<Arch>(c, ldc, mr, nr, ep);
}

// The tile for an mr × nr corner: as few rows (1, 2, 4 or MR) and vectors as
// cover it.
template <class Arch, int NV, bool Ind>
void tile_rows(int64_t kb, const APanel& a, const float* b, int64_t ldbk, float* c, int64_t ldc, int64_t mr, int64_t nr,
               bool load_c, bool last, const GemmEpilogue& ep, int64_t row, int64_t col, const SgemmProblem* tc,
               const float* pf) noexcept {
  constexpr int MR = Tile<Arch>::MR;
  if (mr <= 1) return tile<Arch, 1, NV, Ind>(kb, a, b, ldbk, c, ldc, mr, nr, load_c, last, ep, row, col, tc, pf);
  if (mr <= 2) return tile<Arch, 2, NV, Ind>(kb, a, b, ldbk, c, ldc, mr, nr, load_c, last, ep, row, col, tc, pf);
  if constexpr (MR > 4)
    if (mr <= 4) return tile<Arch, 4, NV, Ind>(kb, a, b, ldbk, c, ldc, mr, nr, load_c, last, ep, row, col, tc, pf);
  tile<Arch, MR, NV, Ind>(kb, a, b, ldbk, c, ldc, mr, nr, load_c, last, ep, row, col, tc, pf);
}

template <class Arch, bool Ind>
void tile_for(int64_t kb, const APanel& a, const float* b, int64_t ldbk, float* c, int64_t ldc, int64_t mr, int64_t nr, bool load_c,
              bool last, const GemmEpilogue& ep, int64_t row, int64_t col, const SgemmProblem* tc,
              const float* pf) noexcept {
  constexpr int W = Tile<Arch>::W, NV = Tile<Arch>::NV;
  if (nr <= W) return tile_rows<Arch, 1, Ind>(kb, a, b, ldbk, c, ldc, mr, nr, load_c, last, ep, row, col, tc, pf);
  if constexpr (NV >= 3)
    if (nr <= 2 * W) return tile_rows<Arch, 2, Ind>(kb, a, b, ldbk, c, ldc, mr, nr, load_c, last, ep, row, col, tc, pf);
  tile_rows<Arch, NV, Ind>(kb, a, b, ldbk, c, ldc, mr, nr, load_c, last, ep, row, col, tc, pf);
}

// A'[i0 : i0+rows, k0 : k0+kb] into ⌈rows/MR⌉ micro-panels (kb × MR, rows
// past the end zero).
template <class Arch>
void pack_a_block(const float* a, int64_t lda, bool trans, int64_t i0, int64_t rows, int64_t k0, int64_t kb,
                  float* dst) noexcept {
  constexpr int MR = Tile<Arch>::MR;
  int64_t ip = 0;
#if defined(__AVX512F__)
  if constexpr (std::is_same_v<Arch, xsimd::avx512f>) {
    static_assert(MR == 8, "two micro-panels per 16 rows");
    // Row-major A: two whole micro-panels (16 rows) at a time, 16 k at a
    // time, transposed in registers; lane i of column k goes to panel i / 8.
    using B = xsimd::batch<float, Arch>;
    if (!trans)
      for (; ip + 16 <= rows; ip += 16) {
        float* d0 = dst + ip * kb;
        float* d1 = d0 + MR * kb;
        const float* src = a + (i0 + ip) * lda + k0;
        int64_t kk = 0;
        for (; kk + 16 <= kb; kk += 16) {
          B r[16];
          for (int i = 0; i < 16; ++i) r[i] = B::load_unaligned(src + i * lda + kk);
          detail::transpose_square<Arch>(r);
          for (int k = 0; k < 16; ++k) {
            const __m512 v = r[k];
            _mm256_storeu_ps(d0 + (kk + k) * MR, _mm512_castps512_ps256(v));
            _mm256_storeu_ps(d1 + (kk + k) * MR, _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)));
          }
        }
        for (; kk < kb; ++kk)
          for (int i = 0; i < 16; ++i) (i < MR ? d0 : d1)[kk * MR + i % MR] = src[i * lda + kk];
      }
  }
#endif
  for (; ip < rows; ip += MR) {
    const int64_t mr = std::min<int64_t>(MR, rows - ip);
    float* d = dst + ip * kb;  // panel ip/MR starts at (ip/MR)·MR·kb
    if (!trans) {
      const float* src = a + (i0 + ip) * lda + k0;
      for (int64_t kk = 0; kk < kb; ++kk)  // sequential stores, mr read streams
        for (int64_t i = 0; i < mr; ++i) d[kk * MR + i] = src[i * lda + kk];
      for (int64_t i = mr; i < MR; ++i)
        for (int64_t kk = 0; kk < kb; ++kk) d[kk * MR + i] = 0.f;
    } else {
      for (int64_t kk = 0; kk < kb; ++kk) {
        const float* src = a + (k0 + kk) * lda + i0 + ip;
        float* dk = d + kk * MR;
        for (int64_t i = 0; i < mr; ++i) dk[i] = src[i];
        for (int64_t i = mr; i < MR; ++i) dk[i] = 0.f;
      }
    }
  }
}

// kb rows of one NR-wide micro-panel, row kk read at src + kk·lds, written
// to d + kk·NR as act(fma(x, b_scale[k0 + kk], b_shift[k0 + kk])): the B map
// of SgemmProblem, act Relu or none. src may be d itself (lds = NR).
template <class Arch, bool Relu>
void map_b_rows(const SgemmProblem& p, const float* src, int64_t lds, int64_t k0, int64_t kb, float* d) noexcept {
  using B = xsimd::batch<float, Arch>;
  constexpr int NR = Tile<Arch>::NR, W = Tile<Arch>::W;
  for (int64_t kk = 0; kk < kb; ++kk, src += lds) {
    const B s(p.b_scale[k0 + kk]), t(p.b_shift[k0 + kk]);
#pragma GCC unroll 4
    for (int v = 0; v < NR; v += W) {
      B x = xsimd::fma(B::load_unaligned(src + v), s, t);
      if constexpr (Relu) x = detail::act_vec<Act::Relu>(x, 0.f, 0.f);
      x.store_aligned(d + kk * NR + v);
    }
  }
}

// B'[k0 : k0+kb, j0 : j0+cols] into ⌈cols/NR⌉ micro-panels (kb × NR, columns
// past the end zero). With `map` (SgemmProblem's b_scale / b_shift / b_relu;
// not with trans) every row is mapped: whole panels as they are copied, the
// partial last one in place after (its columns past the end then hold
// act(shift), which nothing reads).
template <class Arch>
void pack_b_block(const float* b, int64_t ldb, bool trans, int64_t k0, int64_t kb, int64_t j0, int64_t cols,
                  float* dst, const SgemmProblem* map = nullptr) noexcept {
  constexpr int NR = Tile<Arch>::NR;
  auto mapped = [&](const float* src, int64_t lds, float* d) {
    if (map->b_relu) map_b_rows<Arch, true>(*map, src, lds, k0, kb, d);
    else map_b_rows<Arch, false>(*map, src, lds, k0, kb, d);
  };
  for (int64_t jp = 0; jp < cols; jp += NR) {
    const int64_t nr = std::min<int64_t>(NR, cols - jp);
    float* d = dst + jp * kb;
    if (!trans && nr == NR) {  // whole panels: rows of NR floats, vector by vector
      using B = xsimd::batch<float, Arch>;
      constexpr int W = Tile<Arch>::W;
      const float* src = b + k0 * ldb + j0 + jp;
      if (map) {
        mapped(src, ldb, d);
        continue;
      }
      for (int64_t kk = 0; kk < kb; ++kk, src += ldb)
#pragma GCC unroll 4
        for (int v = 0; v < NR; v += W) B::load_unaligned(src + v).store_aligned(d + kk * NR + v);
    } else if (!trans) {
      for (int64_t kk = 0; kk < kb; ++kk) {
        float* dk = d + kk * NR;
        std::memcpy(dk, b + (k0 + kk) * ldb + j0 + jp, nr * sizeof(float));
        std::fill(dk + nr, dk + NR, 0.f);
      }
      if (map) mapped(d, NR, d);
    } else {
      for (int64_t j = 0; j < nr; ++j) {
        const float* src = b + (j0 + jp + j) * ldb + k0;
        for (int64_t kk = 0; kk < kb; ++kk) d[kk * NR + j] = src[kk];
      }
      for (int64_t kk = 0; kk < kb; ++kk) std::fill(d + kk * NR + nr, d + kk * NR + NR, 0.f);
    }
  }
}

// im2col(X)[k0 : k0+kb, j0 : j0+cols] packed in panels of P columns (kb × P,
// columns past the end zero): like pack_b_block when P = NR, or, P = MR,
// like pack_a_block of the transposed operand im2col(X)ᵀ. Read straight
// from X. Each packed row is the kernel tap (c, r, s) over consecutive output
// positions, i.e. runs along output rows ("segments", the same for every
// tap of a panel); within a segment the input is contiguous at unit stride
// (a copy between zeroed borders) and strided otherwise. Segments are short
// (OW is 7…56 in CNNs), so plain loops beat memcpy calls here, and the tap
// index steps incrementally instead of being divided out per row.
template <class Arch, int NR>
void pack_im2col(const Im2col2d& g, int64_t k0, int64_t kb, int64_t j0, int64_t cols, float* dst) noexcept {
  int64_t seg_t[NR], seg_len[NR], seg_oh[NR], seg_ow[NR];  // at most NR segments per panel
  for (int64_t jp = 0; jp < cols; jp += NR) {
    const int64_t nr = std::min<int64_t>(NR, cols - jp);
    float* d = dst + jp * kb;
    int nseg = 0;
    for (int64_t t = 0, oh = (j0 + jp) / g.OW, ow = (j0 + jp) % g.OW; t < nr; ++nseg) {
      seg_t[nseg] = t;
      seg_len[nseg] = std::min(g.OW - ow, nr - t);
      seg_oh[nseg] = oh;
      seg_ow[nseg] = ow;
      t += seg_len[nseg];
      ow = 0;
      ++oh;
    }
    int64_t ch = k0 / (g.kh * g.kw), r = (k0 / g.kw) % g.kh, s = k0 % g.kw;
    for (int64_t kk = 0; kk < kb; ++kk) {
      const float* xc = g.x + ch * g.H * g.W;
      float* row = d + kk * NR;
      for (int q = 0; q < nseg; ++q) {
        const int64_t seg = seg_len[q], ih = seg_oh[q] * g.sh - g.ph + r * g.dh;
        float* out = row + seg_t[q];
        if (ih < 0 || ih >= g.H) {
          for (int64_t u = 0; u < seg; ++u) out[u] = 0.f;
          continue;
        }
        const float* xr = xc + ih * g.W;
        const int64_t iw0 = seg_ow[q] * g.sw - g.pw + s * g.dw;
        if (g.sw == 1) {
          const int64_t lo = std::clamp<int64_t>(-iw0, 0, seg), hi = std::clamp<int64_t>(g.W - iw0, lo, seg);
          const float* src = xr + iw0;
          for (int64_t u = 0; u < lo; ++u) out[u] = 0.f;
          for (int64_t u = lo; u < hi; ++u) out[u] = src[u];
          for (int64_t u = hi; u < seg; ++u) out[u] = 0.f;
        } else if (g.sw == 2) {
          // Outputs [lo, hi) read inside the row; whole vectors of them as the
          // even lanes of two loads while those stay inside the channel plane.
          using B = xsimd::batch<float, Arch>;
          constexpr int64_t Wv = static_cast<int64_t>(B::size);
          const int64_t lo = std::clamp<int64_t>((1 - iw0) / 2, 0, seg);  // first u with iw0 + 2u >= 0
          const int64_t hi = std::clamp<int64_t>((g.W - iw0 + 1) / 2, lo, seg);
          const int64_t avail = (g.H - ih) * g.W;  // floats readable from xr
          for (int64_t u = 0; u < lo; ++u) out[u] = 0.f;
          int64_t u = lo;
          for (; u + Wv <= hi && iw0 + 2 * (u + Wv) <= avail; u += Wv)
            detail::load_even<Arch>(xr + iw0 + 2 * u).store_unaligned(out + u);
          if (u < hi && iw0 + 2 * (u + Wv) <= avail) {  // the row's last outputs: a partial store
            detail::store_part<Arch>(detail::load_even<Arch>(xr + iw0 + 2 * u), out + u, hi - u);
            u = hi;
          }
          for (; u < hi; ++u) out[u] = xr[iw0 + 2 * u];
          for (u = hi; u < seg; ++u) out[u] = 0.f;
        } else {
          for (int64_t u = 0; u < seg; ++u) {
            const int64_t iw = iw0 + u * g.sw;
            out[u] = iw >= 0 && iw < g.W ? xr[iw] : 0.f;
          }
        }
      }
      for (int64_t u = nr; u < NR; ++u) row[u] = 0.f;
      if (++s == g.kw) {  // next tap: (c, r, s) in W's row-major order
        s = 0;
        if (++r == g.kh) {
          r = 0;
          ++ch;
        }
      }
    }
  }
}

}  // namespace gemm_detail

template <class Arch>
GemmBlocking sgemm_blocking::operator()(Arch) const noexcept {
  return gemm_detail::blocking<Arch>();
}

template <class Arch>
void sgemm_pack_a::operator()(Arch, const float* a, int64_t lda, bool trans, int64_t M, int64_t K,
                              float* packed) const noexcept {
  constexpr int64_t MR = gemm_detail::Tile<Arch>::MR, kc = gemm_detail::kKc;
  const int64_t Mp = (M + MR - 1) / MR * MR;
  for (int64_t k0 = 0; k0 < K; k0 += kc)
    gemm_detail::pack_a_block<Arch>(a, lda, trans, 0, M, k0, std::min(kc, K - k0), packed + k0 * Mp);
}

template <class Arch>
void sgemm_pack_b::operator()(Arch, const float* b, int64_t ldb, bool trans, int64_t K, int64_t N,
                              float* packed) const noexcept {
  constexpr int64_t NR = gemm_detail::Tile<Arch>::NR, kc = gemm_detail::kKc;
  const int64_t Np = (N + NR - 1) / NR * NR;
  for (int64_t k0 = 0; k0 < K; k0 += kc)
    gemm_detail::pack_b_block<Arch>(b, ldb, trans, k0, std::min(kc, K - k0), 0, N, packed + k0 * Np);
}

template <class Arch>
void sgemm_pack_a_blocks::operator()(Arch, const SgemmProblem& p, int64_t kb0, int64_t kb1,
                                     float* packed) const noexcept {
  constexpr int64_t MR = gemm_detail::Tile<Arch>::MR, kc = gemm_detail::kKc;
  const int64_t Mp = (p.M + MR - 1) / MR * MR;
  for (int64_t kbk = kb0; kbk < kb1; ++kbk) {
    const int64_t k0 = kbk * kc, kb = std::min(kc, p.K - k0);
    if (kb <= 0) break;
    if (p.a_im2col) gemm_detail::pack_im2col<Arch, MR>(*p.a_im2col, k0, kb, 0, p.M, packed + k0 * Mp);
    else gemm_detail::pack_a_block<Arch>(p.a, p.lda, p.trans_a, 0, p.M, k0, kb, packed + k0 * Mp);
  }
}

template <class Arch>
void sgemm_compute::operator()(Arch, const SgemmProblem& p, int64_t m0, int64_t m1, int64_t n0, int64_t n1,
                               float* workspace) const noexcept {
  using T = gemm_detail::Tile<Arch>;
  constexpr GemmBlocking bl = gemm_detail::blocking<Arch>();
  if (m0 >= m1 || n0 >= n1) return;
  const int64_t Mp = (p.M + T::MR - 1) / T::MR * T::MR, Np = (p.N + T::NR - 1) / T::NR * T::NR;
  const int64_t kblocks = std::max<int64_t>(1, (p.K + bl.kc - 1) / bl.kc);  // K = 0 still runs the epilogue
  // Scratch for the packed A block, the B block and trans_c's running sums, 64-byte aligned.
  float* wa = reinterpret_cast<float*>((reinterpret_cast<uintptr_t>(workspace) + 63) & ~uintptr_t{63});
  float* wb = wa + bl.mc * bl.kc;
  float* wt = wb + bl.kc * bl.nc;
  const SgemmProblem* tc = p.trans_c ? &p : nullptr;
  // An im2col A' of an unpadded input is read in place (APanel); the tap
  // offsets of the K block and the row pointers of the row block then take
  // the A block's scratch.
  const Im2col2d* ind = p.a_im2col && !p.packed_a && p.a_im2col->ph == 0 && p.a_im2col->pw == 0 ? p.a_im2col : nullptr;
  int64_t* offs = reinterpret_cast<int64_t*>(wa);
  const float** rows = reinterpret_cast<const float**>(wa + 2 * bl.kc);
  // A prepacked B is addressed by panel: a range starting off columns into a
  // panel (a multiple of the vector width) reads that panel from there.
  const int64_t off = p.packed_b ? n0 % T::NR : 0;
  // A row-major B that few rows of A share (a 1×1 convolution with few
  // output channels) is read in place: packing a panel would cost about as
  // much as the few tiles that read it. With more rows the contiguous packed
  // panel pays for itself (measured: kernel_bench conv/…/1x1_*).
  const bool direct_b =
      !p.packed_b && !p.im2col && !p.trans_b && !p.b_scale && m1 - m0 <= gemm_detail::kDirectBMaxRows;

  // Column block: nc, or with trans_c as wide as the scratch allows for the
  // rows of one row block (each im2col A' block is then packed once for all
  // columns; a 56-row block takes 1632 columns).
  const int64_t rows_t = std::min(bl.mc, (m1 - m0 + T::MR - 1) / T::MR * T::MR);
  const int64_t nc = p.trans_c ? std::max(bl.nc, bl.mc * bl.nc / rows_t / T::NR * T::NR) : bl.nc;
  for (int64_t jc = n0; jc < n1; jc += nc) {
    const int64_t ncb = std::min(nc, n1 - jc);
    // trans_c keeps one row block's running sums in wt, so its row blocks
    // take their K blocks one block at a time; otherwise all rows at once.
    for (int64_t icc = m0; icc < m1; icc += p.trans_c ? bl.mc : m1 - m0) {
      const int64_t icc_end = p.trans_c ? std::min(icc + bl.mc, m1) : m1;
      for (int64_t kbk = 0; kbk < kblocks; ++kbk) {
        const int64_t k0 = kbk * bl.kc, kb = std::max<int64_t>(0, std::min(bl.kc, p.K - k0));
        const float* bp = wb;
        if (p.packed_b) bp = p.packed_b + k0 * Np + (jc - off) * kb;
        else if (p.im2col) gemm_detail::pack_im2col<Arch, T::NR>(*p.im2col, k0, kb, jc, ncb, wb);
        else if (direct_b) {
          // Whole panels are read from B in place; the partial last one is packed.
          bp = wb - (ncb / T::NR * T::NR) * kb;
          if (ncb % T::NR)
            gemm_detail::pack_b_block<Arch>(p.b, p.ldb, false, k0, kb, jc + ncb / T::NR * T::NR, ncb % T::NR, wb);
        } else gemm_detail::pack_b_block<Arch>(p.b, p.ldb, p.trans_b, k0, kb, jc, ncb, wb, p.b_scale ? &p : nullptr);
        const bool load_c = kbk > 0 || (p.ep.accumulate && !p.trans_c), last = kbk == kblocks - 1;
        if (ind) {  // tap (c, r, s) = k in W's row-major order → c·H·W + r·dh·W + s·dw
          int64_t ch = k0 / (ind->kh * ind->kw), r = (k0 / ind->kw) % ind->kh, s = k0 % ind->kw;
          for (int64_t kk = 0; kk < kb; ++kk) {
            offs[kk] = (ch * ind->H + r * ind->dh) * ind->W + s * ind->dw;
            if (++s == ind->kw) {
              s = 0;
              if (++r == ind->kh) {
                r = 0;
                ++ch;
              }
            }
          }
        }
        for (int64_t ic = icc; ic < icc_end; ic += bl.mc) {
          const int64_t mcb = std::min(bl.mc, icc_end - ic);
          const float* ap = wa;
          if (p.packed_a) ap = p.packed_a + k0 * Mp + ic * kb;
          else if (ind) {
            // Row i of the block: output position q (the last one past M) → its window's origin.
            for (int64_t i = 0; i < (mcb + T::MR - 1) / T::MR * T::MR; ++i) {
              const int64_t q = std::min(ic + i, p.M - 1), oh = q / ind->OW, ow = q % ind->OW;
              rows[i] = ind->x + oh * ind->sh * ind->W + ow * ind->sw;
            }
          } else if (p.a_im2col) gemm_detail::pack_im2col<Arch, T::MR>(*p.a_im2col, k0, kb, ic, mcb, wa);
          else gemm_detail::pack_a_block<Arch>(p.a, p.lda, p.trans_a, ic, mcb, k0, kb, wa);
          // trans_c with prepacked weights: while the row panels run over the
          // B micro-panel at jr, the first NR/16 of them prefetch the next
          // one (this K block's, else the next K block's first), 16 floats
          // (a cache line) per k each, so the weights arrive from memory
          // ahead of their first use.
          const int64_t kb_next = std::max<int64_t>(0, std::min(bl.kc, p.K - k0 - bl.kc));
          auto prefetch_for = [&](int64_t ir, int64_t jr) -> const float* {
            if (!p.trans_c || !p.packed_b || ir / T::MR >= T::NR / 16) return nullptr;
            const int64_t slice = ir / T::MR * 16;
            if (jr + T::NR < ncb) return bp + (jr + T::NR + off) * kb + slice * kb;
            if (kb_next != kb || ic + bl.mc < icc_end) return nullptr;  // full next block, last row block
            return p.packed_b + (k0 + bl.kc) * Np + (jc - off) * kb_next + slice * kb_next;
          };
          auto run_tile = [&](int64_t ir, int64_t jr) {
            const int64_t j = std::max<int64_t>(jr, 0), je = std::min(jr + T::NR, ncb);
            float* c = tc ? wt + (ic - icc + ir) * nc + j : p.c + (ic + ir) * p.ldc + jc + j;
            const bool in_place = direct_b && jr + T::NR <= ncb;
            const float* b = in_place ? p.b + k0 * p.ldb + jc + jr : bp + (jr + off) * kb + (j - jr);
            const int64_t ldbk = in_place ? p.ldb : T::NR;
            const int64_t mr = std::min<int64_t>(T::MR, mcb - ir), ldt = tc ? nc : p.ldc;
            const float* pf = prefetch_for(ir, jr);
            if (ind)
              gemm_detail::tile_for<Arch, true>(kb, gemm_detail::APanel{nullptr, rows + ir, offs}, b, ldbk, c, ldt, mr,
                                                je - j, load_c, last, p.ep, ic + ir, jc + j, tc, pf);
            else
              gemm_detail::tile_for<Arch, false>(kb, gemm_detail::APanel{ap + ir * kb, nullptr, nullptr}, b, ldbk, c, ldt,
                                                 mr, je - j, load_c, last, p.ep, ic + ir, jc + j, tc, pf);
          };
          if (p.trans_c) {
            // Few rows (output positions), many columns (weights, 48 KiB per
            // micro-panel): each B micro-panel serves every row panel in turn,
            // so the weights stream from memory once, evenly, and the A block
            // (the positions) stays in L2.
            for (int64_t jr = -off; jr < ncb; jr += T::NR)
              for (int64_t ir = 0; ir < mcb; ir += T::MR) run_tile(ir, jr);
          } else {
            for (int64_t ir = 0; ir < mcb; ir += T::MR)
              for (int64_t jr = -off; jr < ncb; jr += T::NR) run_tile(ir, jr);
          }
        }
      }
    }
  }
}

}  // namespace kiln::simd

#define KILN_SIMD_GEMM_INSTANTIATE(Arch)                                                                        \
  template kiln::simd::GemmBlocking kiln::simd::sgemm_blocking::operator()<Arch>(Arch) const noexcept;          \
  template void kiln::simd::sgemm_pack_a::operator()<Arch>(Arch, const float*, int64_t, bool, int64_t, int64_t, \
                                                           float*) const noexcept;                              \
  template void kiln::simd::sgemm_pack_b::operator()<Arch>(Arch, const float*, int64_t, bool, int64_t, int64_t, \
                                                           float*) const noexcept;                              \
  template void kiln::simd::sgemm_pack_a_blocks::operator()<Arch>(Arch, const kiln::simd::SgemmProblem&, int64_t, \
                                                                  int64_t, float*) const noexcept;              \
  template void kiln::simd::sgemm_compute::operator()<Arch>(Arch, const kiln::simd::SgemmProblem&, int64_t,    \
                                                            int64_t, int64_t, int64_t, float*) const noexcept;
