// The SIMD pattern's smallest kernel, on every compiled arch the CPU runs,
// against the scalar definition, over every tail length.
#include <gtest/gtest.h>

#include <vector>

#include "kernels/simd/affine.h"

namespace kiln::simd {
namespace {

template <class Arch>
void check_affine() {
  if (!arch_available<Arch>()) GTEST_SKIP() << Arch::name() << " not available on this CPU";
  for (int64_t n = 0; n <= 70; ++n) {
    std::vector<float> x(n + 2), y(n + 2, -7.f);  // guard elements past the end
    for (int64_t i = 0; i < n; ++i) x[i] = 0.25f * static_cast<float>(i) - 3.f;
    affine_f32{}(Arch{}, x.data(), y.data(), n, 1.5f, -0.5f);
    for (int64_t i = 0; i < n; ++i) ASSERT_FLOAT_EQ(y[i], 1.5f * x[i] - 0.5f) << "n=" << n << " i=" << i;
    EXPECT_EQ(y[n], -7.f);
    EXPECT_EQ(y[n + 1], -7.f);
  }
}

#if defined(__x86_64__)
TEST(SimdAffine, Avx512f) { check_affine<xsimd::avx512f>(); }
TEST(SimdAffine, Fma3Avx2) { check_affine<xsimd::fma3<xsimd::avx2>>(); }
TEST(SimdAffine, Sse2) { check_affine<xsimd::sse2>(); }
#elif defined(__aarch64__)
TEST(SimdAffine, Neon64) { check_affine<xsimd::neon64>(); }
#endif

TEST(SimdDispatch, PicksAnArch) { EXPECT_NE(std::string(best_arch_name()), ""); }

}  // namespace
}  // namespace kiln::simd
