// Bodies of the activations (activation.h): per-vector functions used by
// activation_f32 and by the in-register epilogues of other kernels. Included
// only by kernels/simd/instantiate.h (through the kernels' _impl.h files).
#pragma once

#include <cmath>
#include <cstdint>
#include <type_traits>

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

#include "kernels/simd/activation.h"

namespace kiln::simd::detail {

// e^t for t <= 0, subnormal results included (t < −104 gives 0; NaN stays
// NaN). Range reduction t = n·ln 2 + r, |r| <= ln 2 / 2 (ln 2 in two parts),
// a degree-7 polynomial for e^r (relative error about 1e-7), then the
// scaling by 2^n: one instruction on AVX-512 (scalef, which rounds into the
// subnormals itself); elsewhere through the exponent bits, in two steps
// below 2^−125.
template <class B>
inline B exp_nonpos(B t) noexcept {
  using A = typename B::arch_type;
  t = xsimd::max(B(-104.f), t);  // NaN passes (see act_vec)
  const B n = xsimd::nearbyint(t * B(1.44269504088896341f));
  B r = xsimd::fma(n, B(-0.693359375f), t);
  r = xsimd::fma(n, B(2.12194440e-4f), r);
  B y = B(1.9875691500e-4f);
  y = xsimd::fma(y, r, B(1.3981999507e-3f));
  y = xsimd::fma(y, r, B(8.3334519073e-3f));
  y = xsimd::fma(y, r, B(4.1665795894e-2f));
  y = xsimd::fma(y, r, B(1.6666665459e-1f));
  y = xsimd::fma(y, r, B(5.0000001201e-1f));
  y = xsimd::fma(y, r * r, r + B(1.f));
#if defined(__AVX512F__)
  if constexpr (std::is_same_v<A, xsimd::avx512f>) return B(_mm512_scalef_ps(y, n));
#endif
  using I = xsimd::batch<int32_t, A>;
  const auto tiny = n < B(-125.f);
  const I k = xsimd::to_int(xsimd::select(tiny, n + B(64.f), n));
  const B scale = xsimd::bitwise_cast<B>((k + I(127)) << 23);
  return y * scale * xsimd::select(tiny, B(0x1p-64f), B(1.f));
}

// 1 / (1 + e) for 1 <= d = 1 + e <= 2: on AVX-512 the 14-bit reciprocal
// estimate and one Newton step (about 1 ulp), elsewhere a division.
template <class B>
inline B recip_1to2(B d) noexcept {
#if defined(__AVX512F__)
  if constexpr (std::is_same_v<typename B::arch_type, xsimd::avx512f>) {
    const B r0(_mm512_rcp14_ps(d));
    return r0 * xsimd::fnma(d, r0, B(2.f));
  }
#endif
  return B(1.f) / d;
}

// 1 / (1 + e^−x) as e / (1 + e) for x < 0, e = e^−|x|: exp never overflows,
// and tiny results (down to the subnormals) keep their value, as in the
// scalar op.
template <class B>
inline B sigmoid_vec(B x) noexcept {
  const B e = exp_nonpos(x | B(-0.f));  // −|x|
  const B r = recip_1to2(B(1.f) + e);
  return xsimd::select(x >= B(0.f), r, e * r);
}

// act(x) on one vector, NaN in giving NaN out as in the scalar definitions:
// max(c, x) and min(c, x) take c as the first operand, because on x86 the
// second operand is what comes out when either is NaN (NEON's give NaN).
template <Act K, class B>
inline B act_vec(B x, float alpha, float beta) noexcept {
  const B zero(0.f), one(1.f);
  if constexpr (K == Act::None) {
    return x;
  } else if constexpr (K == Act::Relu) {
    return xsimd::max(zero, x);
  } else if constexpr (K == Act::LeakyRelu) {
    return xsimd::select(x >= zero, x, B(alpha) * x);
  } else if constexpr (K == Act::Clip) {
    return xsimd::min(B(beta), xsimd::max(B(alpha), x));
  } else if constexpr (K == Act::Sigmoid) {
    return sigmoid_vec(x);
  } else if constexpr (K == Act::HardSigmoid) {
    return xsimd::min(one, xsimd::max(zero, xsimd::fma(B(alpha), x, B(beta))));
  } else if constexpr (K == Act::HardSwish) {
    return x * xsimd::min(one, xsimd::max(zero, x / B(6.f) + B(0.5f)));
  } else if constexpr (K == Act::Tanh) {
    return xsimd::tanh(x);
  } else if constexpr (K == Act::SiLU) {
    return x * sigmoid_vec(x);
  } else if constexpr (K == Act::Softplus) {
    return xsimd::select(x > zero, x, zero) + xsimd::log1p(xsimd::exp(-xsimd::abs(x)));
  } else if constexpr (K == Act::Mish) {
    const B sp = xsimd::select(x > zero, x, zero) + xsimd::log1p(xsimd::exp(-xsimd::abs(x)));
    return x * xsimd::tanh(sp);
  } else if constexpr (K == Act::Gelu) {
    // 1 + erf(u) = erfc(−u): no cancellation for large negative x.
    return B(0.5f) * x * xsimd::erfc(x * B(-0.70710678118654752f));
  } else {
    static_assert(K == Act::GeluTanh);
    // 1 + tanh(z) = 2·sigmoid(2z) = 2 / (1 + e^(−2z)), likewise free of cancellation.
    const B z = B(0.79788456080286536f) * xsimd::fma(B(0.044715f) * x, x * x, x);
    return x / (one + xsimd::exp(B(-2.f) * z));
  }
}

// Calls f(std::integral_constant<Act, K>{}) for the runtime kind: kernels
// choose the activation once, outside their loops.
template <class F>
inline void with_act(Act kind, F&& f) noexcept {
  switch (kind) {
    case Act::None: f(std::integral_constant<Act, Act::None>{}); return;
    case Act::Relu: f(std::integral_constant<Act, Act::Relu>{}); return;
    case Act::LeakyRelu: f(std::integral_constant<Act, Act::LeakyRelu>{}); return;
    case Act::Clip: f(std::integral_constant<Act, Act::Clip>{}); return;
    case Act::Sigmoid: f(std::integral_constant<Act, Act::Sigmoid>{}); return;
    case Act::HardSigmoid: f(std::integral_constant<Act, Act::HardSigmoid>{}); return;
    case Act::HardSwish: f(std::integral_constant<Act, Act::HardSwish>{}); return;
    case Act::Tanh: f(std::integral_constant<Act, Act::Tanh>{}); return;
    case Act::SiLU: f(std::integral_constant<Act, Act::SiLU>{}); return;
    case Act::Softplus: f(std::integral_constant<Act, Act::Softplus>{}); return;
    case Act::Mish: f(std::integral_constant<Act, Act::Mish>{}); return;
    case Act::Gelu: f(std::integral_constant<Act, Act::Gelu>{}); return;
    case Act::GeluTanh: f(std::integral_constant<Act, Act::GeluTanh>{}); return;
  }
}

}  // namespace kiln::simd::detail

namespace kiln::simd {

template <class Arch>
void activation_f32::operator()(Arch, const ActParams& p, const float* x, float* y, int64_t n) const noexcept {
  using B = xsimd::batch<float, Arch>;
  constexpr int64_t W = static_cast<int64_t>(B::size);
  detail::with_act(p.kind, [&](auto k) {
    constexpr Act K = decltype(k)::value;
    int64_t i = 0;
    for (; i + W <= n; i += W) detail::act_vec<K>(B::load_unaligned(x + i), p.alpha, p.beta).store_unaligned(y + i);
    if (i < n) {  // tail through a padded buffer, so that every lane sees a finite value
      alignas(64) float buf[W] = {};
      for (int64_t j = 0; j < n - i; ++j) buf[j] = x[i + j];
      detail::act_vec<K>(B::load_aligned(buf), p.alpha, p.beta).store_aligned(buf);
      for (int64_t j = 0; j < n - i; ++j) y[i + j] = buf[j];
    }
  });
}

}  // namespace kiln::simd

#define KILN_SIMD_ACTIVATION_INSTANTIATE(Arch) \
  template void kiln::simd::activation_f32::operator()<Arch>(Arch, const kiln::simd::ActParams&, const float*, float*, int64_t) const noexcept;
