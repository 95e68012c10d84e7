// Activations shared by the SIMD kernels: the standalone activation ops and
// the epilogues that conv-like kernels apply in registers. Baseline-safe
// (no arch code): the per-arch bodies live in activation_impl.h.
#pragma once

#include <cstdint>

#include "kernels/simd/arch.h"

namespace kiln::simd {

// y = f(x) per element; alpha/beta as noted.
enum class Act : int {
  None,         // x
  Relu,         // x < 0 ? 0 : x          (NaN stays NaN)
  LeakyRelu,    // x >= 0 ? x : alpha·x
  Clip,         // min(max(x, alpha), beta) as x < alpha ? alpha : x, then > beta ? beta
  Sigmoid,      // 1 / (1 + e^-x)
  HardSigmoid,  // clamp01(alpha·x + beta)
  HardSwish,    // x · clamp01(x/6 + 1/2)
  Tanh,         // tanh x
  SiLU,         // x · sigmoid(x)
  Softplus,     // max(x, 0) + log1p(e^-|x|)
  Mish,         // x · tanh(softplus(x))
  Gelu,         // x/2 · (1 + erf(x/√2))
  GeluTanh,     // x/2 · (1 + tanh(√(2/π)·(x + 0.044715·x³)))
};

struct ActParams {
  Act kind = Act::None;
  float alpha = 0, beta = 0;
};

// y[i] = act(x[i]) for i < n (x == y allowed).
struct activation_f32 {
  template <class Arch>
  void operator()(Arch, const ActParams& p, const float* x, float* y, int64_t n) const noexcept;
};

#define KILN_SIMD_ACTIVATION_EXTERN(Arch) \
  extern template void activation_f32::operator()<Arch>(Arch, const ActParams&, const float*, float*, int64_t) const noexcept;
KILN_SIMD_FOR_EACH_ARCH(KILN_SIMD_ACTIVATION_EXTERN)
#undef KILN_SIMD_ACTIVATION_EXTERN

}  // namespace kiln::simd
