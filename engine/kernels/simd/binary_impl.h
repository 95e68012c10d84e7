// Body of binary_f32 (binary.h); included only by kernels/simd/instantiate.h.
#pragma once

#include <cassert>

#include "kernels/simd/binary.h"

namespace kiln::simd {

namespace detail {

// One run with a compile-time operation and stride pattern; the scalar tail
// uses the same IEEE operation as the vector body, so results do not depend
// on where the tail starts.
template <BinaryOp Op, int SA, int SB, class Arch>
void binary_run(const float* a, const float* b, float* c, int64_t n) noexcept {
  using B = xsimd::batch<float, Arch>;
  constexpr int64_t W = static_cast<int64_t>(B::size);
  auto f = [](auto x, auto y) {
    if constexpr (Op == BinaryOp::Add) return x + y;
    else if constexpr (Op == BinaryOp::Sub) return x - y;
    else if constexpr (Op == BinaryOp::Mul) return x * y;
    else return x / y;
  };
  const B va = SA ? B(0.f) : B(a[0]), vb = SB ? B(0.f) : B(b[0]);
  int64_t i = 0;
  for (; i + 2 * W <= n; i += 2 * W) {
    const B x0 = SA ? B::load_unaligned(a + i) : va, x1 = SA ? B::load_unaligned(a + i + W) : va;
    const B y0 = SB ? B::load_unaligned(b + i) : vb, y1 = SB ? B::load_unaligned(b + i + W) : vb;
    f(x0, y0).store_unaligned(c + i);
    f(x1, y1).store_unaligned(c + i + W);
  }
  for (; i + W <= n; i += W)
    f(SA ? B::load_unaligned(a + i) : va, SB ? B::load_unaligned(b + i) : vb).store_unaligned(c + i);
  for (; i < n; ++i) c[i] = f(a[SA ? i : 0], b[SB ? i : 0]);
}

template <BinaryOp Op, class Arch>
void binary_strides(const float* a, int64_t sa, const float* b, int64_t sb, float* c, int64_t n) noexcept {
  if (sa && sb) binary_run<Op, 1, 1, Arch>(a, b, c, n);
  else if (sa) binary_run<Op, 1, 0, Arch>(a, b, c, n);
  else if (sb) binary_run<Op, 0, 1, Arch>(a, b, c, n);
  else binary_run<Op, 0, 0, Arch>(a, b, c, n);
}

}  // namespace detail

template <class Arch>
void binary_f32::operator()(Arch, BinaryOp op, const float* a, int64_t sa, const float* b, int64_t sb, float* c,
                            int64_t n) const noexcept {
  assert((sa == 0 || sa == 1) && (sb == 0 || sb == 1));
  switch (op) {
    case BinaryOp::Add: detail::binary_strides<BinaryOp::Add, Arch>(a, sa, b, sb, c, n); return;
    case BinaryOp::Sub: detail::binary_strides<BinaryOp::Sub, Arch>(a, sa, b, sb, c, n); return;
    case BinaryOp::Mul: detail::binary_strides<BinaryOp::Mul, Arch>(a, sa, b, sb, c, n); return;
    case BinaryOp::Div: detail::binary_strides<BinaryOp::Div, Arch>(a, sa, b, sb, c, n); return;
  }
}

}  // namespace kiln::simd

#define KILN_SIMD_BINARY_INSTANTIATE(Arch)                                                                     \
  template void kiln::simd::binary_f32::operator()<Arch>(Arch, kiln::simd::BinaryOp, const float*, int64_t, \
                                                         const float*, int64_t, float*, int64_t) const noexcept;
