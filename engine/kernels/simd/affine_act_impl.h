// Body of affine_act_f32 (affine_act.h); included only by kernels/simd/instantiate.h.
#pragma once

#include "kernels/simd/activation_impl.h"
#include "kernels/simd/affine_act.h"

namespace kiln::simd {

template <class Arch>
void affine_act_f32::operator()(Arch, const AffineActParams& p, const float* x, const float* z, float* y,
                                int64_t n) const noexcept {
  using B = xsimd::batch<float, Arch>;
  constexpr int64_t W = static_cast<int64_t>(B::size);
  const B vs(p.s), vt(p.t);
  const float alpha = p.act.alpha, beta = p.act.beta;
  detail::with_act(p.act.kind, [&](auto k) {
    constexpr Act K = decltype(k)::value;
    auto one = [&](B v, const float* zi) {
      v = xsimd::fma(v, vs, vt);
      if (zi) v += B::load_unaligned(zi);
      return detail::act_vec<K>(v, alpha, beta);
    };
    int64_t i = 0;
    for (; i + W <= n; i += W) one(B::load_unaligned(x + i), z ? z + i : nullptr).store_unaligned(y + i);
    if (i < n) {  // tail through padded buffers, so that every lane sees a finite value
      alignas(64) float bx[W] = {}, bz[W] = {};
      for (int64_t j = 0; j < n - i; ++j) {
        bx[j] = x[i + j];
        if (z) bz[j] = z[i + j];
      }
      one(B::load_aligned(bx), z ? bz : nullptr).store_aligned(bx);
      for (int64_t j = 0; j < n - i; ++j) y[i + j] = bx[j];
    }
  });
}

}  // namespace kiln::simd

#define KILN_SIMD_AFFINE_ACT_INSTANTIATE(Arch)                                                                       \
  template void kiln::simd::affine_act_f32::operator()<Arch>(Arch, const kiln::simd::AffineActParams&, const float*, \
                                                             const float*, float*, int64_t) const noexcept;
