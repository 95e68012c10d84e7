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
#pragma once

#include <algorithm>
#include <cstring>
#include <type_traits>

#include "kernels/simd/gemm.h"

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
constexpr int64_t kNcCols = 384;      // B block columns before rounding to NR: 256×384 floats = 384 KiB (L2)

template <class Arch>
constexpr GemmBlocking blocking() {
  using T = Tile<Arch>;
  const int64_t nc = (kNcCols + T::NR - 1) / T::NR * T::NR;
  return GemmBlocking{T::MR, T::NR, kKc, kMcRows, nc, kMcRows * kKc + kKc * nc + 64, T::W};
}

// GCC 12 flags the _mm512_undefined_ps inside its own AVX-512 max/min/select
// intrinsics as "maybe uninitialized" here; the lanes it means are never read.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

template <class Arch>
xsimd::batch<float, Arch> activate(xsimd::batch<float, Arch> x, const GemmEpilogue& ep) noexcept {
  using B = xsimd::batch<float, Arch>;
  const B zero(0.f), one(1.f);
  switch (ep.act) {
    case GemmActivation::None: return x;
    case GemmActivation::Relu: return xsimd::max(x, zero);
    case GemmActivation::Clip: return xsimd::min(xsimd::max(x, B(ep.act_alpha)), B(ep.act_beta));
    case GemmActivation::LeakyRelu: return xsimd::select(x < zero, x * B(ep.act_alpha), x);
    case GemmActivation::Sigmoid: return one / (one + xsimd::exp(-x));
    case GemmActivation::HardSigmoid:
      return xsimd::min(xsimd::max(xsimd::fma(x, B(ep.act_alpha), B(ep.act_beta)), zero), one);
    case GemmActivation::HardSwish:
      return x * xsimd::min(xsimd::max(xsimd::fma(x, B(1.f / 6.f), B(0.5f)), zero), one);
    case GemmActivation::Tanh: return xsimd::tanh(x);
    case GemmActivation::SiLU: return x / (one + xsimd::exp(-x));
  }
  return x;
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

// The activation over the tile just stored (still in L1). Kept out of line:
// inlined next to the FMA loop, exp/tanh for every accumulator bloat the
// function until the compiler spills accumulators inside the K loop.
template <class Arch>
__attribute__((noinline)) void activate_tile(float* c, int64_t ldc, int64_t mr, int64_t nr,
                                             const GemmEpilogue& ep) noexcept {
  using B = xsimd::batch<float, Arch>;
  constexpr int64_t W = static_cast<int64_t>(B::size);
  for (int64_t i = 0; i < mr; ++i) {
    float* row = c + i * ldc;
    int64_t j = 0;
    for (; j + W <= nr; j += W) activate<Arch>(B::load_unaligned(row + j), ep).store_unaligned(row + j);
    if (j < nr) {
      alignas(64) float tmp[W] = {};
      std::memcpy(tmp, row + j, (nr - j) * sizeof(float));
      activate<Arch>(B::load_aligned(tmp), ep).store_aligned(tmp);
      std::memcpy(row + j, tmp, (nr - j) * sizeof(float));
    }
  }
}
#pragma GCC diagnostic pop

// acc[MR][NV] += A micro-panel (kb × MR) · the first NV vectors of the B
// micro-panel (kb × NR), then the epilogue and the store of the valid
// mr × nr corner at c (row stride ldc); (row, col) is the tile's position in
// the whole problem (for biases and the residual). NV < Tile::NV serves
// narrow right-edge panels (N = 196 = 4·48 + 4 would otherwise spend a
// sixth of its FMAs on padding).
template <class Arch, int NV>
void tile(int64_t kb, const float* a, const float* b, float* c, int64_t ldc, int64_t mr, int64_t nr, bool load_c,
          bool last, const GemmEpilogue& ep, int64_t row, int64_t col) noexcept {
  using B = xsimd::batch<float, Arch>;
  using T = Tile<Arch>;
  constexpr int MR = T::MR, W = T::W, NR = T::NR;
  B acc[MR][NV];
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) acc[i][v] = B(0.f);
  for (int64_t k = 0; k < kb; ++k) {
    B bv[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) bv[v] = B::load_aligned(b + k * NR + v * W);
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i) {
      const B ai(a[k * MR + i]);
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) acc[i][v] = xsimd::fma(ai, bv[v], acc[i][v]);
    }
  }

  const float* res = last && ep.residual ? ep.residual + row * ep.ld_residual + col : nullptr;
  const float* cb = last && ep.col_bias ? ep.col_bias + col : nullptr;
  if (mr == MR && nr == NV * W) {  // full tile: the epilogue runs on the registers
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i) {
      float* crow = c + i * ldc;
      const float rb = last && ep.row_bias ? ep.row_bias[row + i] : 0.f;
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v)
        finish<Arch>(acc[i][v], load_c ? crow + v * W : nullptr, cb ? cb + v * W : nullptr,
                     res ? res + i * ep.ld_residual + v * W : nullptr, rb, last, ep)
            .store_unaligned(crow + v * W);
    }
    if (last && ep.act != GemmActivation::None) activate_tile<Arch>(c, ldc, mr, nr, ep);
    return;
  }
  // Partial tile (the bottom or right edge of C): spill the accumulators and
  // run the same epilogue on zero-padded copies of the valid columns.
  alignas(64) float spill[MR * NR];
#pragma GCC unroll 16
  for (int i = 0; i < MR; ++i)
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

// The tile for an nr-wide panel: as few vectors as cover nr.
template <class Arch>
void tile_for(int64_t kb, const float* a, const float* b, float* c, int64_t ldc, int64_t mr, int64_t nr, bool load_c,
              bool last, const GemmEpilogue& ep, int64_t row, int64_t col) noexcept {
  constexpr int W = Tile<Arch>::W, NV = Tile<Arch>::NV;
  if (nr <= W) return tile<Arch, 1>(kb, a, b, c, ldc, mr, nr, load_c, last, ep, row, col);
  if constexpr (NV >= 3)
    if (nr <= 2 * W) return tile<Arch, 2>(kb, a, b, c, ldc, mr, nr, load_c, last, ep, row, col);
  tile<Arch, NV>(kb, a, b, c, ldc, mr, nr, load_c, last, ep, row, col);
}

// A'[i0 : i0+rows, k0 : k0+kb] into ⌈rows/MR⌉ micro-panels (kb × MR, rows
// past the end zero).
template <class Arch>
void pack_a_block(const float* a, int64_t lda, bool trans, int64_t i0, int64_t rows, int64_t k0, int64_t kb,
                  float* dst) noexcept {
  constexpr int MR = Tile<Arch>::MR;
  for (int64_t ip = 0; ip < rows; ip += MR) {
    const int64_t mr = std::min<int64_t>(MR, rows - ip);
    float* d = dst + ip * kb;  // panel ip/MR starts at (ip/MR)·MR·kb
    if (!trans) {
      for (int64_t i = 0; i < mr; ++i) {
        const float* src = a + (i0 + ip + i) * lda + k0;
        for (int64_t kk = 0; kk < kb; ++kk) d[kk * MR + i] = src[kk];
      }
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

// B'[k0 : k0+kb, j0 : j0+cols] into ⌈cols/NR⌉ micro-panels (kb × NR, columns
// past the end zero).
template <class Arch>
void pack_b_block(const float* b, int64_t ldb, bool trans, int64_t k0, int64_t kb, int64_t j0, int64_t cols,
                  float* dst) noexcept {
  constexpr int NR = Tile<Arch>::NR;
  for (int64_t jp = 0; jp < cols; jp += NR) {
    const int64_t nr = std::min<int64_t>(NR, cols - jp);
    float* d = dst + jp * kb;
    if (!trans) {
      for (int64_t kk = 0; kk < kb; ++kk) {
        float* dk = d + kk * NR;
        std::memcpy(dk, b + (k0 + kk) * ldb + j0 + jp, nr * sizeof(float));
        std::fill(dk + nr, dk + NR, 0.f);
      }
    } else {
      for (int64_t j = 0; j < nr; ++j) {
        const float* src = b + (j0 + jp + j) * ldb + k0;
        for (int64_t kk = 0; kk < kb; ++kk) d[kk * NR + j] = src[kk];
      }
      for (int64_t kk = 0; kk < kb; ++kk) std::fill(d + kk * NR + nr, d + kk * NR + NR, 0.f);
    }
  }
}

// im2col(X)[k0 : k0+kb, j0 : j0+cols] packed like pack_b_block, read straight
// from X. Each packed row is the kernel tap (c, r, s) over consecutive output
// positions, i.e. runs along output rows ("segments", the same for every
// tap of a panel); within a segment the input is contiguous at unit stride
// (a copy between zeroed borders) and strided otherwise. Segments are short
// (OW is 7…56 in CNNs), so plain loops beat memcpy calls here, and the tap
// index steps incrementally instead of being divided out per row.
template <class Arch>
void pack_b_im2col(const Im2col2d& g, int64_t k0, int64_t kb, int64_t j0, int64_t cols, float* dst) noexcept {
  constexpr int NR = Tile<Arch>::NR;
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
void sgemm_compute::operator()(Arch, const SgemmProblem& p, int64_t m0, int64_t m1, int64_t n0, int64_t n1,
                               float* workspace) const noexcept {
  using T = gemm_detail::Tile<Arch>;
  constexpr GemmBlocking bl = gemm_detail::blocking<Arch>();
  if (m0 >= m1 || n0 >= n1) return;
  const int64_t Mp = (p.M + T::MR - 1) / T::MR * T::MR, Np = (p.N + T::NR - 1) / T::NR * T::NR;
  const int64_t kblocks = std::max<int64_t>(1, (p.K + bl.kc - 1) / bl.kc);  // K = 0 still runs the epilogue
  // Scratch for the packed A block and B block, 64-byte aligned.
  float* wa = reinterpret_cast<float*>((reinterpret_cast<uintptr_t>(workspace) + 63) & ~uintptr_t{63});
  float* wb = wa + bl.mc * bl.kc;

  for (int64_t jc = n0; jc < n1; jc += bl.nc) {
    const int64_t ncb = std::min(bl.nc, n1 - jc);
    for (int64_t kbk = 0; kbk < kblocks; ++kbk) {
      const int64_t k0 = kbk * bl.kc, kb = std::max<int64_t>(0, std::min(bl.kc, p.K - k0));
      const float* bp = wb;
      if (p.packed_b) bp = p.packed_b + k0 * Np + jc * kb;
      else if (p.im2col) gemm_detail::pack_b_im2col<Arch>(*p.im2col, k0, kb, jc, ncb, wb);
      else gemm_detail::pack_b_block<Arch>(p.b, p.ldb, p.trans_b, k0, kb, jc, ncb, wb);
      const bool load_c = kbk > 0 || p.ep.accumulate, last = kbk == kblocks - 1;
      for (int64_t ic = m0; ic < m1; ic += bl.mc) {
        const int64_t mcb = std::min(bl.mc, m1 - ic);
        const float* ap = wa;
        if (p.packed_a) ap = p.packed_a + k0 * Mp + ic * kb;
        else gemm_detail::pack_a_block<Arch>(p.a, p.lda, p.trans_a, ic, mcb, k0, kb, wa);
        for (int64_t ir = 0; ir < mcb; ir += T::MR)
          for (int64_t jr = 0; jr < ncb; jr += T::NR)
            gemm_detail::tile_for<Arch>(kb, ap + ir * kb, bp + jr * kb, p.c + (ic + ir) * p.ldc + jc + jr, p.ldc,
                                        std::min<int64_t>(T::MR, mcb - ir), std::min<int64_t>(T::NR, ncb - jr),
                                        load_c, last, p.ep, ic + ir, jc + jr);
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
  template void kiln::simd::sgemm_compute::operator()<Arch>(Arch, const kiln::simd::SgemmProblem&, int64_t,    \
                                                            int64_t, int64_t, int64_t, float*) const noexcept;
