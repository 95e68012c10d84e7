// Direct depthwise 2-D convolution of one float32 channel plane (group = C =
// M, one filter per channel), square kernel K ∈ {3, 5}, stride S ∈ {1, 2},
// dilation 1, any zero padding:
//
//   y[oy, ox] = act( bias + Σ_{ky,kx<K} w[ky, kx] · x[oy·S − pt + ky, ox·S − pl + kx]  (+ z[oy, ox]) )
//
// with x read as 0 outside its H × W extent and z an optional residual plane.
// Vectorized along the output row. The kernel first copies the plane into a
// zero-bordered workspace (stride 2: each row split into its even and odd
// columns), so that every tap of every output vector is one contiguous load.
#pragma once

#include <cstdint>

#include "kernels/simd/activation.h"
#include "kernels/simd/arch.h"

namespace kiln::simd {

struct DwConvParams {
  int64_t H = 0, W = 0;    // input plane
  int64_t OH = 0, OW = 0;  // output plane
  int kernel = 3;          // K: 3 or 5
  int stride = 1;          // S: 1 or 2
  int64_t pad_top = 0, pad_left = 0;
  ActParams act;           // applied after bias and residual
};

// Whether the kernel covers this geometry (K, S as above, sizes positive).
bool dwconv2d_supported(const DwConvParams& p) noexcept;
// Floats of workspace one call needs (the same for every arch).
int64_t dwconv2d_workspace_floats(const DwConvParams& p) noexcept;

// One plane: x is H × W, w is K × K, z (may be null) and y are OH × OW.
// `work` holds dwconv2d_workspace_floats(p) floats.
struct dwconv2d_f32 {
  template <class Arch>
  void operator()(Arch, const DwConvParams& p, const float* x, const float* w, float bias, const float* z, float* y,
                  float* work) const noexcept;
};

#define KILN_SIMD_DWCONV_EXTERN(Arch)                                                                            \
  extern template void dwconv2d_f32::operator()<Arch>(Arch, const DwConvParams&, const float*, const float*, float, \
                                                      const float*, float*, float*) const noexcept;
KILN_SIMD_FOR_EACH_ARCH(KILN_SIMD_DWCONV_EXTERN)
#undef KILN_SIMD_DWCONV_EXTERN

namespace detail {
// Workspace layout shared by dwconv.cpp and the kernel body. Output rows are
// computed in whole vectors of up to kMaxLanes floats, so rows are sized for
// OW rounded up to that.
inline constexpr int64_t kMaxLanes = 16;
struct DwLayout {
  int64_t rows;       // (OH − 1)·S + K padded input rows; row r is input row r − pad_top
  int64_t row_floats; // floats per workspace row
  int64_t half;       // S = 2: offset of the odd columns within a row
  int64_t src;        // S = 2: offset of the one-row staging area (after all rows)
  int64_t total;
};
DwLayout dw_layout(const DwConvParams& p) noexcept;
}  // namespace detail

}  // namespace kiln::simd
