// Direct float32 2-D convolution with few input channels (C ≤ 4, group 1,
// dilation 1): the first layer of image CNNs (3 → 16…64, 3×3 or 7×7, stride 2),
// where the implicit GEMM has K = C·KH·KW of only 27 or 147 and spends much of
// its time gathering im2col panels. For one image
//
//   y[m, oy, ox] = act( bias[m] + Σ_{c<C, ky<KH, kx<KW} w[m, c, ky, kx] · x[c, oy·SH − pt + ky, ox·SW − pl + kx]
//                       (+ z[m, oy, ox]) )
//
// with x read as 0 outside its H × W extent and z an optional residual.
//
// Vectorized along output columns: a register block holds MB output channels
// × R output rows × V output vectors of accumulators; each tap is R·V
// contiguous loads, MB weight broadcasts and MB·R·V FMAs. Inputs come from a
// workspace holding a zero-padded copy of the input rows the call needs, each
// row split into even and odd columns for SW = 2 (column 2·j + kx of the
// padded row is entry j + kx/2 of half kx mod 2), so every tap of every
// output vector is one contiguous load. Weights are packed once (see
// pack_conv_small_c_weights) so the broadcasts of one tap are adjacent floats.
#pragma once

#include <cstdint>

#include "kernels/simd/activation.h"
#include "kernels/simd/arch.h"

namespace kiln::simd {

inline constexpr int64_t kSmallCMaxChannels = 4;
// Output channels per block of the packed weights (the largest MB of any arch).
inline constexpr int64_t kSmallCPackM = 8;

struct SmallCConvParams {
  int64_t C = 0, M = 0;      // input (1 … 4) and output channels
  int64_t H = 0, W = 0;      // input plane
  int64_t OH = 0, OW = 0;    // output plane
  int64_t KH = 0, KW = 0;    // kernel
  int64_t stride_h = 1;      // any >= 1
  int64_t stride_w = 1;      // 1 or 2
  int64_t pad_top = 0, pad_left = 0;  // >= 0; trailing pads only shape OH, OW
  ActParams act;             // applied after bias and residual
};

// Whether the kernel covers this geometry (the limits above, sizes positive).
bool conv_small_c_supported(const SmallCConvParams& p) noexcept;

// Packed weights: for each block of kSmallCPackM output channels (the last
// zero-padded), for each tap t = (c·KH + ky)·KW + kx, the block's kSmallCPackM
// weights w[m, c, ky, kx]. packed holds conv_small_c_packed_floats(M, C, KH, KW).
int64_t conv_small_c_packed_floats(int64_t M, int64_t C, int64_t KH, int64_t KW) noexcept;
void pack_conv_small_c_weights(const float* w, int64_t M, int64_t C, int64_t KH, int64_t KW, float* packed) noexcept;

// Floats of workspace a call computing `rows` output rows needs (every arch).
int64_t conv_small_c_workspace_floats(const SmallCConvParams& p, int64_t rows) noexcept;

// Output rows [oy0, oy1) of every channel of one image: x is C × H × W, w the
// packed weights, bias (M, may be null), z (may be null) and y are M × OH × OW.
// `work` holds conv_small_c_workspace_floats(p, oy1 − oy0) floats. Each output
// is computed the same way whatever rows a call covers.
struct conv_small_c_f32 {
  template <class Arch>
  void operator()(Arch, const SmallCConvParams& p, const float* x, const float* w, const float* bias, const float* z,
                  float* y, int64_t oy0, int64_t oy1, float* work) const noexcept;
};

#define KILN_SIMD_CONV_SMALL_C_EXTERN(Arch)                                                                        \
  extern template void conv_small_c_f32::operator()<Arch>(Arch, const SmallCConvParams&, const float*, const float*, \
                                                          const float*, const float*, float*, int64_t, int64_t,      \
                                                          float*) const noexcept;
KILN_SIMD_FOR_EACH_ARCH(KILN_SIMD_CONV_SMALL_C_EXTERN)
#undef KILN_SIMD_CONV_SMALL_C_EXTERN

namespace detail {
// Workspace layout shared by conv_small_c.cpp and the kernel body. Output
// vectors are computed whole (up to kSmallCMaxLanes floats), so rows are sized
// for OW rounded up to that.
inline constexpr int64_t kSmallCMaxLanes = 16;
struct SmallCLayout {
  int64_t rows;        // input rows of one call: (rows_out − 1)·SH + KH
  int64_t row_floats;  // floats per (row, channel); rows are stored [row][channel]
  int64_t half;        // SW = 2: offset of the odd columns within a row
  int64_t stage;       // SW = 2: offset of a one-row staging area (after all rows)
  int64_t total;
};
SmallCLayout small_c_layout(const SmallCConvParams& p, int64_t rows_out) noexcept;
}  // namespace detail

}  // namespace kiln::simd
