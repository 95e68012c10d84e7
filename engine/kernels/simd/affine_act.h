// y[i] = act(s·x[i] + t (+ z[i])) over float32: a standalone BatchNorm's
// per-channel affine pass with the fused node's residual add and activation
// applied in the same pass (one read of x, one write of y, while the values
// are in registers). Rounding as the unfused graph: s·x + t is one fused
// multiply-add in float (as affine_f32), the residual add rounds to float,
// then the activation.
#pragma once

#include <cstdint>

#include "kernels/simd/activation.h"

namespace kiln::simd {

struct AffineActParams {
  float s = 1.f, t = 0.f;  // the channel's scale and shift
  ActParams act;           // Act::None: affine (+ residual) only
};

// z may be null (no residual); y may alias x or z.
struct affine_act_f32 {
  template <class Arch>
  void operator()(Arch, const AffineActParams& p, const float* x, const float* z, float* y, int64_t n) const noexcept;
};

#define KILN_SIMD_AFFINE_ACT_EXTERN(Arch)                                                                         \
  extern template void affine_act_f32::operator()<Arch>(Arch, const AffineActParams&, const float*, const float*, \
                                                        float*, int64_t) const noexcept;
KILN_SIMD_FOR_EACH_ARCH(KILN_SIMD_AFFINE_ACT_EXTERN)
#undef KILN_SIMD_AFFINE_ACT_EXTERN

}  // namespace kiln::simd
