// SIMD kernels: one body per kernel, templated on the xsimd architecture,
// compiled once per architecture in engine/kernels/simd/arch/<arch>.cpp with
// that architecture's flags (the rest of kiln builds for the baseline), and
// chosen at run time with xsimd::dispatch over kiln::simd::archs, best first.
//
// A kernel is a struct with a templated call operator:
//
//   struct scale_shift { template <class Arch> void operator()(Arch, const float* x, …) const; };
//
// its body lives in <kernel>_impl.h, included only by the arch files through
// kernels/simd/instantiate.h, which instantiates every kernel for the arch
// being compiled. The kernel's header declares those instantiations `extern`
// for every arch (KILN_SIMD_FOR_EACH_ARCH) so that no baseline translation
// unit instantiates a body with the wrong flags. See affine.h for the pattern.
//
// Callers run `kiln::simd::dispatch(scale_shift{})(x, y, n, s, t)`.
#pragma once

#include <xsimd/xsimd.hpp>

namespace kiln::simd {

#if defined(__x86_64__) || defined(_M_X64)
using archs = xsimd::arch_list<xsimd::avx512f, xsimd::fma3<xsimd::avx2>, xsimd::sse2>;
#define KILN_SIMD_FOR_EACH_ARCH(X) X(xsimd::avx512f) X(xsimd::fma3<xsimd::avx2>) X(xsimd::sse2)
#elif defined(__aarch64__)
using archs = xsimd::arch_list<xsimd::neon64>;
#define KILN_SIMD_FOR_EACH_ARCH(X) X(xsimd::neon64)
#else
#error "kiln's SIMD kernels need x86-64 or aarch64"
#endif

template <class F>
auto dispatch(F&& f) noexcept {
  return xsimd::dispatch<archs>(std::forward<F>(f));
}

// The name of the best architecture of `archs` this CPU runs ("avx512f", …).
const char* best_arch_name();
// Whether the CPU runs Arch (for tests that sweep every compiled arch).
template <class Arch>
bool arch_available() {
  return Arch::version() <= xsimd::available_architectures().best;
}

}  // namespace kiln::simd

