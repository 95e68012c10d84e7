// Bodies of the activations (activation.h): per-vector functions used by
// activation_f32 and by the in-register epilogues of other kernels. Included
// only by kernels/simd/instantiate.h (through the kernels' _impl.h files).
#pragma once

#include <cmath>

#include "kernels/simd/activation.h"

namespace kiln::simd::detail {

// 1 / (1 + e^−x) as e / (1 + e) for x < 0, e = e^−|x|: exp never overflows,
// and tiny results (down to the subnormals) keep their value, as in the
// scalar op.
template <class B>
inline B sigmoid_vec(B x) noexcept {
  const B one(1.f);
  // xsimd's exp flushes results below the normal range to 0; for t < −80,
  // e^t = e^(t + 64·ln 2) · 2^−64 keeps the subnormal ones.
  const B t = -xsimd::abs(x);
  const auto tiny = t < B(-80.f);
  const B e = xsimd::exp(xsimd::select(tiny, t + B(44.3614195558365f), t)) * xsimd::select(tiny, B(0x1p-64f), one);
  const B r = one / (one + e);
  return xsimd::select(x >= B(0.f), r, e * r);
}

// act(x) on one vector. Comparisons are written as selects so that NaN
// behaves as in the scalar definitions (a NaN compares false).
template <Act K, class B>
inline B act_vec(B x, float alpha, float beta) noexcept {
  const B zero(0.f), one(1.f);
  if constexpr (K == Act::None) {
    return x;
  } else if constexpr (K == Act::Relu) {
    return xsimd::select(x < zero, zero, x);
  } else if constexpr (K == Act::LeakyRelu) {
    return xsimd::select(x >= zero, x, B(alpha) * x);
  } else if constexpr (K == Act::Clip) {
    const B lo(alpha), hi(beta);
    const B t = xsimd::select(x < lo, lo, x);
    return xsimd::select(t > hi, hi, t);
  } else if constexpr (K == Act::Sigmoid) {
    return sigmoid_vec(x);
  } else if constexpr (K == Act::HardSigmoid) {
    const B v = xsimd::fma(B(alpha), x, B(beta));
    return xsimd::select(v < zero, zero, xsimd::select(v > one, one, v));
  } else if constexpr (K == Act::HardSwish) {
    const B v = x / B(6.f) + B(0.5f);
    return x * xsimd::select(v < zero, zero, xsimd::select(v > one, one, v));
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
