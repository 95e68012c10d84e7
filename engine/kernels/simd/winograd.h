// Winograd F(4×4, 3×3) convolution transforms (Lavin & Gray), float32: the
// input and output transforms of a 3×3, stride-1, dilation-1 convolution of
// NCHW planes; the products between them are ordinary GEMMs (one per
// transform element, see ops/conv_winograd.cpp). With d a 6×6 input tile, g
// a 3×3 filter and y the 4×4 output tile it yields,
//
//   y = Aᵀ [ (G g Gᵀ) ⊙ (Bᵀ d B) ] A,
//
//   Bᵀ = | 4  0 −5  0  1  0 |   G = |  1/4     0     0  |   Aᵀ = | 1  1  1  1  1  0 |
//        | 0 −4 −4  1  1  0 |       | −1/6  −1/6  −1/6  |        | 0  1 −1  2 −2  0 |
//        | 0  4 −4 −1  1  0 |       | −1/6   1/6  −1/6  |        | 0  1  1  4  4  0 |
//        | 0 −2 −1  2  1  0 |       |  1/24  1/12  1/6  |        | 0  1 −1  8 −8  1 |
//        | 0  2 −1 −2  1  0 |       |  1/24 −1/12  1/6  |
//        | 0  4  0 −5  0  1 |       |   0     0     1   |
//
// (interpolation points 0, ±1, ±2, ∞). Tile (th, tw) of a plane covers output
// rows 4·th … 4·th+3 and columns 4·tw … 4·tw+3 and reads input rows
// 4·th − pad_top … +5 and columns 4·tw − pad_left … +5 (0 outside the plane);
// edge tiles past OH × OW are computed in full and cropped. Transform element
// ξ = 6·i + j is entry (i, j) of the 6×6 matrices.
//
// Why F(4×4, 3×3): per output it needs 36/16 = 2.25 multiply-adds in the
// GEMMs against 9 direct (4×); F(2×2) needs 16/4 = 4 (2.25×), F(6×6)
// 64/36 ≈ 1.8 (5×) but with transform constants up to 32 and 21/4. In a
// float32 simulation on ResNet layers (ReLU'd inputs, He weights) F(2×2)
// errs 0.3–1e-6 of max|y|, F(4×4) 0.4–1.1e-5 and F(6×6) 0.8–1.6e-5, against
// the model tests' bound of 1e-4 that compounds over ~16 layers; F(6×6)
// would also split CNN maps (7…56) into fewer, more wasteful edge tiles.
// F(4×4) is the speed that stays well inside the bound.
//
// Both kernels are vectorized across tiles of one tile row (lane l = tile
// tw0 + l), so that every lane runs the same arithmetic: the input kernel
// first splits the plane's rows by column phase (column 4·j + q → phase q,
// slot j), after which entry (r, c) of W consecutive tiles is one contiguous
// load; the output kernel interleaves its per-tile results back into rows.
#pragma once

#include <cstdint>

#include "kernels/simd/activation.h"
#include "kernels/simd/arch.h"

namespace kiln::simd {

inline constexpr int kWinogradTile = 4;        // output tile edge (m)
inline constexpr int kWinogradAlpha = 6;       // input tile edge (m + 2)
inline constexpr int kWinogradElements = 36;   // α² transform elements

// One plane's geometry. TH = ⌈OH/4⌉, TW = ⌈OW/4⌉ tiles; tile t = th·TW + tw.
struct WinogradPlane {
  int64_t H = 0, W = 0, OH = 0, OW = 0;
  int64_t pad_top = 0, pad_left = 0;
  int64_t TH = 0, TW = 0;
};
WinogradPlane winograd_plane(int64_t H, int64_t W, int64_t OH, int64_t OW, int64_t pad_top, int64_t pad_left) noexcept;

// Lanes a kernel may read or write past the last tile of a row of v / m:
// the largest vector width of any arch, less one.
inline constexpr int64_t kWinogradSlack = 15;
// Floats of phase scratch the input kernel needs for plane p (every arch).
int64_t winograd_phase_floats(const WinogradPlane& p) noexcept;

// Input transform of tiles [t0, t1) of the H × W plane x:
//   v[ξ·ld_xi + (t − t0)] = (Bᵀ d_t B)[ξ]   for t in [t0, t1), ξ < 36.
// Tiles are written in increasing t, a whole vector at a time: the lanes past
// the end of a tile row hold garbage until the next row overwrites them, so
// each of the 36 rows of v must have kWinogradSlack floats of room past
// t1 − t0. `phase` holds winograd_phase_floats(p) floats.
struct winograd_f4x3_input {
  template <class Arch>
  void operator()(Arch, const WinogradPlane& p, const float* x, int64_t t0, int64_t t1, float* v, int64_t ld_xi,
                  float* phase) const noexcept;
};

// Output transform of tiles [t0, t1) of one output channel, with the fused
// epilogue:
//   y[4·th + a, 4·tw + b] = act( (Aᵀ M_t A)[a, b] + bias  (+ z[same]) )
// for the parts of the tiles inside OH × OW, where M_t[ξ] = m[ξ·ld_xi + (t − t0)].
// Reads up to kWinogradSlack floats past t1 − t0 in each row of m (ignored).
// z (the residual plane, OH × OW) may be null.
struct winograd_f4x3_output {
  template <class Arch>
  void operator()(Arch, const WinogradPlane& p, const float* m, int64_t ld_xi, int64_t t0, int64_t t1, float bias,
                  const float* z, const ActParams& act, float* y) const noexcept;
};

#define KILN_SIMD_WINOGRAD_EXTERN(Arch)                                                                       \
  extern template void winograd_f4x3_input::operator()<Arch>(Arch, const WinogradPlane&, const float*, int64_t, \
                                                             int64_t, float*, int64_t, float*) const noexcept;  \
  extern template void winograd_f4x3_output::operator()<Arch>(Arch, const WinogradPlane&, const float*, int64_t,  \
                                                              int64_t, int64_t, float, const float*,              \
                                                              const ActParams&, float*) const noexcept;
KILN_SIMD_FOR_EACH_ARCH(KILN_SIMD_WINOGRAD_EXTERN)
#undef KILN_SIMD_WINOGRAD_EXTERN

namespace detail {
// Phase scratch layout: phase q, padded row r (input row r − pad_top), slot j
// at (q·rows + r)·row_floats + j, holding x[r − pad_top, 4·j + q − pad_left].
struct WinogradPhaseLayout {
  int64_t rows;        // 4·TH + 2
  int64_t row_floats;  // TW + 1 slots, + kWinogradSlack for whole-vector loads
};
inline WinogradPhaseLayout winograd_phase_layout(const WinogradPlane& p) noexcept {
  return {4 * p.TH + 2, p.TW + 1 + kWinogradSlack};
}
}  // namespace detail

}  // namespace kiln::simd
