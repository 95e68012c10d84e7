// y[i] = s·x[i] + t over float32: the standalone per-channel BatchNorm affine
// pass, one channel plane at a time. Also the smallest example of kiln's
// SIMD kernel pattern (see arch.h).
#pragma once

#include <cstdint>

#include "kernels/simd/arch.h"

namespace kiln::simd {

struct affine_f32 {
  template <class Arch>
  void operator()(Arch, const float* x, float* y, int64_t n, float s, float t) const noexcept;
};

#define KILN_SIMD_AFFINE_EXTERN(Arch) \
  extern template void affine_f32::operator()<Arch>(Arch, const float*, float*, int64_t, float, float) const noexcept;
KILN_SIMD_FOR_EACH_ARCH(KILN_SIMD_AFFINE_EXTERN)
#undef KILN_SIMD_AFFINE_EXTERN

}  // namespace kiln::simd
