// SIMD elementwise kernels (binary_f32, activation_f32) on every compiled arch
// the CPU runs, against their scalar definitions, over every tail length and
// each stride pattern, with guard regions around the outputs.
#include <gtest/gtest.h>

#include <cmath>

#include "kernels/simd/activation.h"
#include "kernels/simd/binary.h"
#include "kernels/simd_test_util.h"

namespace kiln::simd {
namespace {

using testing_util::act_ref;
using testing_util::Guarded;
using testing_util::ramp;

template <class Arch>
class SimdElementwise : public ::testing::Test {};
TYPED_TEST_SUITE(SimdElementwise, testing_util::Archs, testing_util::ArchNames);

float scalar_binary(BinaryOp op, float a, float b) {
  switch (op) {
    case BinaryOp::Add: return a + b;
    case BinaryOp::Sub: return a - b;
    case BinaryOp::Mul: return a * b;
    case BinaryOp::Div: return a / b;
  }
  return 0;
}

TYPED_TEST(SimdElementwise, BinaryEveryStridePatternAndTail) {
  using Arch = TypeParam;
  KILN_SKIP_UNLESS_ARCH(Arch);
  constexpr int64_t W = 16;  // the widest vector (avx512f) in floats: covers every narrower tail too
  for (BinaryOp op : {BinaryOp::Add, BinaryOp::Sub, BinaryOp::Mul, BinaryOp::Div}) {
    for (int pattern = 0; pattern < 4; ++pattern) {
      const int64_t sa = pattern & 1, sb = (pattern >> 1) & 1;
      for (int64_t n = 0; n <= 4 * W + 1; ++n) {
        const std::vector<float> a = ramp(n + 1, -3.f, 3.f, 7), b0 = ramp(n + 1, 0.5f, 4.f, 9);
        std::vector<float> b = b0;
        for (size_t i = 0; i < b.size(); i += 2) b[i] = -b[i];  // both signs, never 0
        Guarded c(n);
        binary_f32{}(Arch{}, op, a.data(), sa, b.data(), sb, c.data(), n);
        for (int64_t i = 0; i < n; ++i)
          ASSERT_EQ(c[i], scalar_binary(op, a[sa * i], b[sb * i]))
              << "op " << int(op) << " sa " << sa << " sb " << sb << " n " << n << " i " << i;
        ASSERT_TRUE(c.guards_intact()) << "n " << n;
      }
    }
  }
}

TYPED_TEST(SimdElementwise, BinaryInPlace) {
  using Arch = TypeParam;
  KILN_SKIP_UNLESS_ARCH(Arch);
  std::vector<float> a = ramp(37, -1.f, 1.f), b = ramp(37, 1.f, 2.f, 3), want(37);
  for (size_t i = 0; i < a.size(); ++i) want[i] = a[i] * b[i];
  binary_f32{}(Arch{}, BinaryOp::Mul, a.data(), 1, b.data(), 1, a.data(), 37);
  EXPECT_EQ(a, want);
}

TYPED_TEST(SimdElementwise, SigmoidKeepsTinyResults) {
  using Arch = TypeParam;
  KILN_SKIP_UNLESS_ARCH(Arch);
  // e^−100 / (1 + e^−100) is subnormal in float32: not flushed to 0, no overflow of e^100.
  const float x[2] = {-100.f, 100.f};
  float y[2];
  activation_f32{}(Arch{}, ActParams{Act::Sigmoid, 0, 0}, x, y, 2);
  EXPECT_EQ(y[0], std::exp(-100.f) / (1 + std::exp(-100.f)));
  EXPECT_EQ(y[1], 1.f);
}

// The activations in double: the definitions the ops document.
TYPED_TEST(SimdElementwise, ActivationsMatchTheirDefinitions) {
  using Arch = TypeParam;
  KILN_SKIP_UNLESS_ARCH(Arch);
  constexpr int64_t W = 16;  // the widest vector (avx512f) in floats: covers every narrower tail too
  const std::vector<ActParams> kinds = {
      {Act::None, 0, 0},      {Act::Relu, 0, 0},        {Act::LeakyRelu, 0.1f, 0},  {Act::Clip, -1.5f, 2.f},
      {Act::Sigmoid, 0, 0},   {Act::HardSigmoid, 0.2f, 0.5f}, {Act::HardSwish, 0, 0}, {Act::Tanh, 0, 0},
      {Act::SiLU, 0, 0},      {Act::Softplus, 0, 0},    {Act::Mish, 0, 0},          {Act::Gelu, 0, 0},
      {Act::GeluTanh, 0, 0}};
  // A sweep over [−12, 12] and values that test the extremes of each formula.
  std::vector<float> x = ramp(2000, -12.f, 12.f, 5);
  for (float v : {0.f, -0.f, 1e-4f, -1e-4f, 3.f, -3.f, 6.f, -6.f, 30.f, -30.f, 90.f, -90.f}) x.push_back(v);
  for (const ActParams& p : kinds) {
    // Tolerance tighter than the conformance one (rtol 1e-3, atol 1e-7).
    Guarded y(static_cast<int64_t>(x.size()));
    activation_f32{}(Arch{}, p, x.data(), y.data(), y.size());
    for (size_t i = 0; i < x.size(); ++i) {
      const double want = act_ref(p, x[i]);
      ASSERT_NEAR(y[i], want, 1e-5 * std::fabs(want) + 1e-7) << "kind " << int(p.kind) << " x " << x[i];
    }
    ASSERT_TRUE(y.guards_intact());
    // Every tail length, against the whole-array result.
    for (int64_t n = 0; n <= 2 * W + 1; ++n) {
      Guarded t(n);
      activation_f32{}(Arch{}, p, x.data() + 3, t.data(), n);
      for (int64_t i = 0; i < n; ++i) ASSERT_EQ(t[i], y[i + 3]) << "kind " << int(p.kind) << " n " << n;
      ASSERT_TRUE(t.guards_intact());
    }
  }
  // NaN stays NaN for the selecting kinds, as in the scalar ops.
  const float nan = std::nanf("");
  for (Act k : {Act::Relu, Act::LeakyRelu, Act::Clip, Act::HardSigmoid, Act::Sigmoid, Act::SiLU}) {
    float out = 0;
    activation_f32{}(Arch{}, ActParams{k, 0.f, 1.f}, &nan, &out, 1);
    EXPECT_TRUE(std::isnan(out)) << "kind " << int(k);
  }
}

}  // namespace
}  // namespace kiln::simd
