// 2-D MaxPool / AveragePool over one float32 plane, SIMD along the output
// row. Same definition as the reference (kernels/reference/pool.h): output
// (oh, ow) covers input rows oh·sh − ph + r·dh and columns ow·sw − pw + s·dw,
// of which only those inside the input are read;
//   max:     the largest value read (NaN ignored), lowest() when none is read;
//   average: their sum / divisor, the divisor counting the read positions, or
//            with count_include_pad the window positions inside the padded
//            extent [−ph, H + ph_end) × [−pw, W + pw_end) (0 gives NaN).
// Each output row is two passes (the window is separable): a vertical pass
// reduces the valid rows of the window column by column into a row buffer
// (padding holds the neutral value), then a horizontal pass reduces kw taps
// of that buffer per output, a vector of outputs at a time (stride 1: plain
// loads; stride 2: two loads and an even-lane shuffle; other strides:
// scalar; a row shorter than a vector: one vector, its first OW lanes
// stored). Two row buffers alternate so that row oh + 1's vertical pass runs
// before row oh's horizontal one. Max is one max instruction per tap on x86.
// Averages sum in float (the reference sums in double).
#pragma once

#include <cstdint>

#include "kernels/simd/arch.h"

namespace kiln::simd {

struct Pool2dParams {
  int64_t H = 0, W = 0, OH = 0, OW = 0;
  int64_t kh = 1, kw = 1, sh = 1, sw = 1, dh = 1, dw = 1;
  int64_t ph = 0, pw = 0;          // padding at the start
  int64_t ph_end = 0, pw_end = 0;  // at the end (only count_include_pad reads them)
  bool max = true;                 // false: average
  bool count_include_pad = false;
};

// Scratch floats pool2d_f32 needs for p (row buffer and divisors).
inline int64_t pool2d_scratch_floats(const Pool2dParams& p) {
  const int64_t span = (p.OW - 1) * p.sw + (p.kw - 1) * p.dw + 1;
  const int64_t len = (span > p.pw + p.W ? span : p.pw + p.W) + 32;  // one row buffer with slack
  return 2 * len + 2 * p.OW + 64;
}

// y (OH × OW) = pool(x (H × W)) for one plane; scratch: pool2d_scratch_floats(p).
struct pool2d_f32 {
  template <class Arch>
  void operator()(Arch, const Pool2dParams& p, const float* x, float* y, float* scratch) const noexcept;
};

#define KILN_SIMD_POOL_EXTERN(Arch) \
  extern template void pool2d_f32::operator()<Arch>(Arch, const Pool2dParams&, const float*, float*, float*) const noexcept;
KILN_SIMD_FOR_EACH_ARCH(KILN_SIMD_POOL_EXTERN)
#undef KILN_SIMD_POOL_EXTERN

}  // namespace kiln::simd
