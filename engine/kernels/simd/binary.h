// c = a ∘ b over float32 runs, ∘ one of + − × ÷, where each input either
// advances with the output (stride 1) or stays on one value (stride 0): the
// contiguous runs that the broadcasting walk (kernels/reference/broadcast.h)
// hands out — same shapes, a scalar side, a per-channel [1,C,1,1] operand.
#pragma once

#include <cstdint>

#include "kernels/simd/arch.h"

namespace kiln::simd {

enum class BinaryOp : int { Add, Sub, Mul, Div };

// c[i] = a[i·sa] ∘ b[i·sb] for i < n; sa, sb ∈ {0, 1}. c may alias a or b
// when that input has stride 1.
struct binary_f32 {
  template <class Arch>
  void operator()(Arch, BinaryOp op, const float* a, int64_t sa, const float* b, int64_t sb, float* c,
                  int64_t n) const noexcept;
};

#define KILN_SIMD_BINARY_EXTERN(Arch)                                                                            \
  extern template void binary_f32::operator()<Arch>(Arch, BinaryOp, const float*, int64_t, const float*, int64_t, \
                                                    float*, int64_t) const noexcept;
KILN_SIMD_FOR_EACH_ARCH(KILN_SIMD_BINARY_EXTERN)
#undef KILN_SIMD_BINARY_EXTERN

}  // namespace kiln::simd
