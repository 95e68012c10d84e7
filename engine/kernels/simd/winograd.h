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
// ξ = 6·i + j is entry (i, j) of the 6×6 matrices. Tiles are numbered
// t = th·TW + tw.
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
// Both kernels are vectorized over consecutive tiles t (lane l = tile t + l),
// across tile rows: CNN maps have 2…14 tiles per row, fewer than a vector's
// 16 lanes. Every lane runs the same arithmetic, so a tile's result does not
// depend on its lane. The input kernel first splits the padded rows it needs
// into 24 planes Q[c][q] (c = 0…5 a column of the tile, q = 0…3 a row phase)
// with Q[c][q][i·TW + tw] = x_padded[4·i + q, 4·tw + c]; entry (r, c) of tile
// t is then Q[c][r % 4][t + (r / 4)·TW], so entry (r, c) of W consecutive
// tiles is one contiguous load whatever rows they lie on. The output kernel
// turns its per-tile vectors back into 4-float row pieces with 4×4
// transposes inside each 128-bit group of lanes.
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

// Floats a kernel may read past the last column it uses in a row of m: the
// largest vector width of any arch, less one.
inline constexpr int64_t kWinogradSlack = 15;
// Floats of scratch the input kernel needs for plane p (every arch).
int64_t winograd_input_scratch_floats(const WinogradPlane& p) noexcept;

// Where the input kernel puts column n of one row of V_ξ (ξ < 36):
//   row + ξ·ld_xi + (n / nr)·panel + n % nr.
// With panel = nr·kb this is a row of one K block of the SGEMM's packed-B
// layout (gemm.h: micro-panels kb × nr), which the GEMMs then read in place;
// with nr past every column used it is a plain row. nr is a multiple of the
// arch's vector width (the SGEMM's nr always is).
struct WinogradColumns {
  int64_t nr = 0;
  int64_t panel = 0;
  int64_t ld_xi = 0;
};

// Input transform of tiles [t0, t1) of the H × W plane x into columns
// n0 … n0 + (t1 − t0) − 1:  V_ξ[·, n0 + t − t0] = (Bᵀ d_t B)[ξ].
// Columns outside that range keep their values (the kernel writes whole
// vectors of W columns from n0 rounded down to a multiple of W, merging the
// lanes it does not own), so calls for different column ranges of one row
// must not run concurrently. `scratch` holds
// winograd_input_scratch_floats(p) floats.
struct winograd_f4x3_input {
  template <class Arch>
  void operator()(Arch, const WinogradPlane& p, const float* x, int64_t t0, int64_t t1, float* row, int64_t n0,
                  const WinogradColumns& cols, float* scratch) const noexcept;
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

#define KILN_SIMD_WINOGRAD_EXTERN(Arch)                                                                         \
  extern template void winograd_f4x3_input::operator()<Arch>(Arch, const WinogradPlane&, const float*, int64_t,   \
                                                             int64_t, float*, int64_t, const WinogradColumns&,   \
                                                             float*) const noexcept;                              \
  extern template void winograd_f4x3_output::operator()<Arch>(Arch, const WinogradPlane&, const float*, int64_t,  \
                                                              int64_t, int64_t, float, const float*,              \
                                                              const ActParams&, float*) const noexcept;
KILN_SIMD_FOR_EACH_ARCH(KILN_SIMD_WINOGRAD_EXTERN)
#undef KILN_SIMD_WINOGRAD_EXTERN

namespace detail {
// Input scratch: plane (c, q) = Q[c][q] at (4·c + q)·plane_floats + kFront,
// then up to 4·TH + 2 zero-padded input rows of row_floats. Each plane holds the tile
// rows a call needs (at most TH + 1) with kFront floats before and after:
// lanes of a partial first or last vector read there (and are discarded).
struct WinogradInputLayout {
  static constexpr int64_t kFront = 16;
  int64_t plane_floats;  // (TH + 1)·TW + 2·kFront, rounded up to 16
  int64_t row_floats;    // 4·(TW + 16) + 16: padded columns 0 … 4·TW + 1 and whole-vector slack
};
inline WinogradInputLayout winograd_input_layout(const WinogradPlane& p) noexcept {
  const int64_t plane = (p.TH + 1) * p.TW + 2 * WinogradInputLayout::kFront;
  return {(plane + 15) / 16 * 16, 4 * (p.TW + 16) + 16};
}
}  // namespace detail

}  // namespace kiln::simd
