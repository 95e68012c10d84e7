// affine_act_f32 (a standalone BatchNorm's affine pass with the fused
// residual add and activation) on every compiled arch the CPU runs, against
// the scalar definition, over every tail length, with and without a
// residual, in place, with guard regions around the output.
#include <gtest/gtest.h>

#include <cmath>

#include "kernels/simd/affine_act.h"
#include "kernels/simd_test_util.h"

namespace kiln::simd {
namespace {

using testing_util::Guarded;
using testing_util::ramp;

template <class Arch>
class SimdAffineAct : public ::testing::Test {};
TYPED_TEST_SUITE(SimdAffineAct, testing_util::Archs, testing_util::ArchNames);

// The unfused graph: BN in float (one rounding of s·x + t), Add in float,
// then the activation (in double here, the definition).
double want_of(const AffineActParams& p, float x, const float* z) {
  float v = std::fma(p.s, x, p.t);
  if (z) v = v + *z;
  const double d = v;
  auto clamp01 = [](double u) { return u < 0 ? 0.0 : (u > 1 ? 1.0 : u); };
  switch (p.act.kind) {
    case Act::None: return d;
    case Act::Relu: return d < 0 ? 0 : d;
    case Act::LeakyRelu: return d >= 0 ? d : p.act.alpha * d;
    case Act::Clip: return std::min(std::max(d, double(p.act.alpha)), double(p.act.beta));
    case Act::Sigmoid: return 1 / (1 + std::exp(-d));
    case Act::HardSigmoid: return clamp01(double(p.act.alpha) * d + double(p.act.beta));
    case Act::HardSwish: return d * clamp01(d / 6 + 0.5);
    case Act::Tanh: return std::tanh(d);
    case Act::SiLU: return d / (1 + std::exp(-d));
    default: break;
  }
  ADD_FAILURE() << "activation " << int(p.act.kind) << " is not a fused BN epilogue";
  return 0;
}

TYPED_TEST(SimdAffineAct, EveryActivationTailAndResidual) {
  using Arch = TypeParam;
  KILN_SKIP_UNLESS_ARCH(Arch);
  constexpr int64_t W = 16;  // the widest vector (avx512f): covers every narrower tail too
  const std::vector<ActParams> acts = {{Act::None, 0, 0},         {Act::Relu, 0, 0},    {Act::LeakyRelu, 0.1f, 0},
                                       {Act::Clip, -0.5f, 6.f},   {Act::Sigmoid, 0, 0}, {Act::HardSigmoid, 0.2f, 0.5f},
                                       {Act::HardSwish, 0, 0},    {Act::Tanh, 0, 0},    {Act::SiLU, 0, 0}};
  const std::vector<float> x = ramp(4 * W + 3, -6.f, 6.f, 3), z = ramp(4 * W + 3, -2.f, 2.f, 4);
  for (const ActParams& a : acts)
    for (bool residual : {false, true})
      for (int64_t n = 0; n <= 4 * W + 1; ++n) {
        const AffineActParams p{1.25f, -0.375f, a};
        Guarded y(n);
        affine_act_f32{}(Arch{}, p, x.data() + 1, residual ? z.data() + 2 : nullptr, y.data(), n);
        for (int64_t i = 0; i < n; ++i) {
          const double want = want_of(p, x[1 + i], residual ? &z[2 + i] : nullptr);
          // Piecewise-linear activations are exact; exp/tanh ones within a few ulp.
          ASSERT_NEAR(y[i], want, 2e-6 * std::fabs(want) + 1e-7)
              << "act " << int(a.kind) << " residual " << residual << " n " << n << " i " << i;
        }
        ASSERT_TRUE(y.guards_intact()) << "act " << int(a.kind) << " n " << n;
      }
}

TYPED_TEST(SimdAffineAct, InPlaceOverInputOrResidual) {
  using Arch = TypeParam;
  KILN_SKIP_UNLESS_ARCH(Arch);
  const AffineActParams p{0.5f, 1.f, {Act::Relu, 0, 0}};
  const std::vector<float> x0 = ramp(37, -4.f, 4.f, 5), z0 = ramp(37, -1.f, 1.f, 6);
  std::vector<float> want(37);
  for (size_t i = 0; i < want.size(); ++i) want[i] = static_cast<float>(want_of(p, x0[i], &z0[i]));
  std::vector<float> x = x0, z = z0;
  affine_act_f32{}(Arch{}, p, x.data(), z.data(), x.data(), 37);  // y over x
  EXPECT_EQ(x, want);
  x = x0;
  affine_act_f32{}(Arch{}, p, x.data(), z.data(), z.data(), 37);  // y over the residual
  EXPECT_EQ(z, want);
}

}  // namespace
}  // namespace kiln::simd
