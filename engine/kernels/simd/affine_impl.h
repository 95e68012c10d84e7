// Body of affine_f32 (affine.h); included only by kernels/simd/instantiate.h.
#pragma once

#include "kernels/simd/affine.h"

namespace kiln::simd {

template <class Arch>
void affine_f32::operator()(Arch, const float* x, float* y, int64_t n, float s, float t) const noexcept {
  using B = xsimd::batch<float, Arch>;
  constexpr int64_t W = static_cast<int64_t>(B::size);
  const B vs(s), vt(t);
  int64_t i = 0;
  for (; i + W <= n; i += W) xsimd::fma(B::load_unaligned(x + i), vs, vt).store_unaligned(y + i);
  for (; i < n; ++i) y[i] = s * x[i] + t;  // tail
}

}  // namespace kiln::simd

#define KILN_SIMD_AFFINE_INSTANTIATE(Arch) \
  template void kiln::simd::affine_f32::operator()<Arch>(Arch, const float*, float*, int64_t, float, float) const noexcept;
