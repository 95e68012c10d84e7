// The Winograd path of Conv (ops/conv_winograd.h) against the reference conv:
// called directly over channel counts 1 … 65, odd map sizes (partial edge
// tiles), pads 0/1/asymmetric, batch 2, every fused activation with and
// without a residual, bit-identical at 1 and 2 threads; through a session
// where the selection rule picks it (the kernel the profile names is
// checked); and the error on ResNet-like layers (He-scaled weights, ReLU'd
// inputs) against the float64 reference.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <iostream>
#include <random>

#include "runtime/parallel.h"

#include "kernels/reference/conv.h"
#include "kernels/simd_test_util.h"
#include "kernels/reference/winograd.h"
#include "kernels/simd/gemm_driver.h"
#include "ops/conv_winograd.h"
#include "support/model_builder.h"
#include "support/test_util.h"

namespace kiln::test {
namespace {


struct Case {
  int64_t N, C, M, H, W, pt, pl, pb, pr;
};

kernels::ref::ConvShape shape_of(const Case& c) {
  kernels::ref::ConvShape s;
  s.batch = c.N;
  s.in_channels = c.C;
  s.out_channels = c.M;
  s.in_spatial = {c.H, c.W};
  s.out_spatial = {c.H + c.pt + c.pb - 2, c.W + c.pl + c.pr - 2};
  s.kernel = {3, 3};
  s.strides = {1, 1};
  s.dilations = {1, 1};
  s.pads_begin = {c.pt, c.pl};
  return s;
}

// max |got − want| ≤ tol · max|want|: Winograd F(4×4, 3×3) rounds differently
// from a direct sum (its transforms scale entries by up to 100 and back), an
// error measured at 0.5e-5 … 1.1e-5 of max|y| on ResNet layers (see
// conv_winograd.cpp); 3e-5 leaves a factor of ~3 while a wrong tap, pad or
// epilogue moves outputs by O(max|y|).
constexpr double kScaleTol = 3e-5;

double max_abs(const Tensor& t) {
  double m = 0;
  for (int64_t i = 0; i < t.numel(); ++i) m = std::max(m, std::fabs(double{t.data_as<float>()[i]}));
  return m;
}

// `scale`: max|y| before the activation (every fused activation has slope
// at most 1, so it does not magnify the error; a squashing one shrinks
// max|y| but not the error it is handed).
std::string within_scale(const Tensor& got, const Tensor& want, double scale) {
  return compare_tensors(got, want, kScaleTol * std::max(scale, 1e-3), 0.0);
}

simd::ActParams act_of(simd::Act k) {
  simd::ActParams a;
  a.kind = k;
  if (k == simd::Act::Clip) a.alpha = -0.5f, a.beta = 0.5f;
  if (k == simd::Act::LeakyRelu) a.alpha = 0.1f;
  if (k == simd::Act::HardSigmoid) a.alpha = 0.2f, a.beta = 0.5f;
  return a;
}

using simd::testing_util::act_ref;  // the activation in double

Tensor run_direct(const ops::WinogradWeights& u, const kernels::ref::ConvShape& s, const Tensor& x, const Tensor& b,
                  const Tensor* z, const simd::ActParams& act, int threads) {
  Tensor y(DType::Float32, {s.batch, s.out_channels, s.out_spatial[0], s.out_spatial[1]});
  kiln::runtime::Arena arena(threads);
  arena.execute([&] {
    ops::winograd_conv_f32(u, s, x.data_as<float>(), b.data_as<float>(), z ? z->data_as<float>() : nullptr, act,
                           y.data_as<float>());
  });
  return y;
}

TEST(ConvWinograd, RuleFollowsTheMeasurements) {
  EXPECT_TRUE(ops::winograd_preferred(64, 64, 56, 56));
  EXPECT_TRUE(ops::winograd_preferred(256, 256, 14, 14));
  EXPECT_TRUE(ops::winograd_preferred(128, 32, 14, 14));
  EXPECT_FALSE(ops::winograd_preferred(128, 32, 7, 7));
  EXPECT_TRUE(ops::winograd_preferred(8, 8, 56, 56));
  EXPECT_FALSE(ops::winograd_preferred(512, 512, 7, 7));
  EXPECT_FALSE(ops::winograd_preferred(64, 64, 7, 7));
  EXPECT_FALSE(ops::winograd_preferred(4, 64, 56, 56));
  EXPECT_TRUE(ops::winograd_preferred(64, 64, -1, -1));  // shapes unknown at prepare: filters made
}

// U as winograd_weights packs it (the SGEMM's packed A, gemm.h) against the
// reference filter transform, over M and C around the register tile's mr
// and the K block kc; the padding rows of the last micro-panel are zero.
TEST(ConvWinograd, FilterTransformMatchesReference) {
  const simd::GemmBlocking& gb = simd::gemm_blocking();
  const int64_t mr = gb.mr, kc = gb.kc;
  uint32_t seed = 40;
  for (int64_t M : {int64_t{1}, mr - 1, mr, mr + 1, 2 * mr + 3})
    for (int64_t C : {int64_t{1}, int64_t{3}, kc - 1, kc, kc + 1}) {
      const Tensor w = random_f32({M, C, 3, 3}, ++seed);
      const auto u = ops::winograd_weights(w.data_as<float>(), M, C);
      std::vector<float> want(static_cast<size_t>(36 * M * C));
      kernels::ref::winograd_f4x3_filter(w.data_as<float>(), M, C, want.data());
      const int64_t Mp = (M + mr - 1) / mr * mr;
      for (int64_t xi = 0; xi < 36; ++xi)
        for (int64_t o = 0; o < Mp; ++o)
          for (int64_t c = 0; c < C; ++c) {
            const int64_t k0 = c / kc * kc, kb = std::min(kc, C - k0);
            const float got = u->u(xi)[k0 * Mp + (o / mr) * mr * kb + (c - k0) * mr + o % mr];
            if (o >= M) {
              ASSERT_EQ(got, 0.f) << "padding row " << o << " of M " << M;
              continue;
            }
            const float ref = want[static_cast<size_t>((xi * M + o) * C + c)];
            ASSERT_NEAR(got, ref, 1e-6f * (1.f + std::fabs(ref))) << "M " << M << " C " << C << " xi " << xi;
          }
    }
}

TEST(ConvWinograd, MatchesReferenceOnEveryEdge) {
  const std::vector<Case> cases{
      {1, 1, 1, 3, 3, 0, 0, 0, 0},      // one tile, partial (1×1 output)
      {2, 3, 5, 7, 9, 1, 1, 1, 1},      // batch 2, odd sizes
      {1, 16, 8, 13, 10, 0, 2, 2, 0},   // asymmetric pads
      {2, 33, 17, 11, 29, 1, 0, 0, 1},  // tiles of a row longer than a vector
      {1, 65, 65, 14, 14, 1, 1, 1, 1},  // channels past a multiple of 8, 16, 64
      {1, 64, 48, 6, 41, 2, 1, 1, 2},   // larger pads than 1
      {2, 8, 70, 5, 5, 1, 1, 1, 1},     // M past one GEMM register tile
  };
  uint32_t seed = 1;
  for (const Case& c : cases) {
    const kernels::ref::ConvShape s = shape_of(c);
    const Tensor x = random_f32({c.N, c.C, c.H, c.W}, ++seed), w = random_f32({c.M, c.C, 3, 3}, ++seed),
                 b = random_f32({c.M}, ++seed);
    const auto u = ops::winograd_weights(w.data_as<float>(), c.M, c.C);
    Tensor conv(DType::Float32, {c.N, c.M, s.out_spatial[0], s.out_spatial[1]});
    kernels::ref::conv_f32(s, x.data_as<float>(), w.data_as<float>(), b.data_as<float>(), conv.data_as<float>());
    const Tensor z = random_f32(conv.shape(), ++seed, -2.f, 2.f);
    for (simd::Act k : {simd::Act::None, simd::Act::Relu, simd::Act::Clip, simd::Act::LeakyRelu, simd::Act::Sigmoid,
                        simd::Act::HardSigmoid, simd::Act::HardSwish, simd::Act::Tanh, simd::Act::SiLU})
      for (bool residual : {false, true}) {
        const simd::ActParams act = act_of(k);
        Tensor want(DType::Float32, conv.shape());
        double scale = 0;
        for (int64_t i = 0; i < conv.numel(); ++i) {
          double v = conv.data_as<float>()[i];
          if (residual) v = static_cast<float>(v + z.data_as<float>()[i]);
          scale = std::max(scale, std::fabs(v));
          want.data_as<float>()[i] = static_cast<float>(act_ref(act, v));
        }
        const Tensor y1 = run_direct(*u, s, x, b, residual ? &z : nullptr, act, 1);
        const Tensor y2 = run_direct(*u, s, x, b, residual ? &z : nullptr, act, 2);
        const std::string what = "N" + std::to_string(c.N) + " C" + std::to_string(c.C) + " M" + std::to_string(c.M) +
                                 " " + std::to_string(c.H) + "x" + std::to_string(c.W) + " act " +
                                 std::to_string(static_cast<int>(k)) + (residual ? " +z" : "");
        EXPECT_EQ(compare_tensors(y1, y2, 0, 0), "") << what << ": 1 vs 2 threads";
        EXPECT_EQ(within_scale(y1, want, scale), "") << what;
      }
  }
}

// Through a session: Conv → Add → Relu fuses into a kiln.FusedConv the rule
// hands to Winograd (checked by the kernel the profile names).
TEST(ConvWinograd, SessionPicksItAndAppliesTheEpilogue) {
  const int64_t C = 16, M = 24, H = 53;  // 14 × 14 tiles, the last row and column partial
  ModelBuilder m(17);
  m.input("x", DType::Float32, {1, C, H, H}).input("z", DType::Float32, {1, M, H, H});
  const Tensor w = random_f32({M, C, 3, 3}, 31), b = random_f32({M}, 32);
  m.initializer("w", w).initializer("b", b);
  auto& conv = m.node("Conv", {"x", "w", "b"}, {"c"});
  attr(conv, "pads", std::vector<int64_t>{1, 1, 1, 1});
  m.node("Add", {"c", "z"}, {"s"});
  m.node("Relu", {"s"}, {"y"});
  m.output("y");
  const Tensor x = random_f32({1, C, H, H}, 33), z = random_f32({1, M, H, H}, 34, -2.f, 2.f);
  SessionOptions opt;
  opt.threads = 2;
  Session session = m.session(opt);
  std::vector<NodeProfile> profile;
  const auto y = session.run_profiled({x, z}, profile);
  bool winograd = false;
  for (const NodeProfile& p : profile) winograd |= p.kernel.rfind("winograd_f4x3_", 0) == 0;
  EXPECT_TRUE(winograd) << "the rule did not choose Winograd for 16→24 at 53×53";

  Case c{1, C, M, H, H, 1, 1, 1, 1};
  const kernels::ref::ConvShape s = shape_of(c);
  Tensor want(DType::Float32, {1, M, H, H});
  kernels::ref::conv_f32(s, x.data_as<float>(), w.data_as<float>(), b.data_as<float>(), want.data_as<float>());
  for (int64_t i = 0; i < want.numel(); ++i) {
    const float v = want.data_as<float>()[i] + z.data_as<float>()[i];
    want.data_as<float>()[i] = v < 0 ? 0.f : v;
  }
  EXPECT_EQ(within_scale(y[0], want, max_abs(want)), "");
}

// ResNet-like layers: x ≥ 0 (after BN + ReLU), He-normal weights. Prints the
// error so that it can be quoted.
TEST(ConvWinograd, ResNetLayersErrorWithinTolerance) {
  struct L {
    int64_t C, M, HW;
  };
  for (const L& l : {L{64, 64, 56}, L{128, 128, 28}, L{256, 256, 14}, L{512, 512, 7}}) {
    Case c{1, l.C, l.M, l.HW, l.HW, 1, 1, 1, 1};
    const kernels::ref::ConvShape s = shape_of(c);
    std::mt19937 rng(l.C);
    std::normal_distribution<float> nd(0.f, 1.f);
    Tensor x(DType::Float32, {1, l.C, l.HW, l.HW}), w(DType::Float32, {l.M, l.C, 3, 3}), b(DType::Float32, {l.M});
    for (int64_t i = 0; i < x.numel(); ++i) x.data_as<float>()[i] = std::max(0.f, nd(rng));
    const float he = std::sqrt(2.f / (9.f * static_cast<float>(l.C)));
    for (int64_t i = 0; i < w.numel(); ++i) w.data_as<float>()[i] = he * nd(rng);
    for (int64_t i = 0; i < b.numel(); ++i) b.data_as<float>()[i] = 0.1f * nd(rng);
    const auto u = ops::winograd_weights(w.data_as<float>(), l.M, l.C);
    Tensor want(DType::Float32, {1, l.M, l.HW, l.HW});
    kernels::ref::conv_f32(s, x.data_as<float>(), w.data_as<float>(), b.data_as<float>(), want.data_as<float>());
    const Tensor got = run_direct(*u, s, x, b, nullptr, simd::ActParams{}, 2);
    const double scale = max_abs(want), err = max_abs_diff(got, want);
    std::cout << "[ winograd ] " << l.C << "->" << l.M << " at " << l.HW << "x" << l.HW << ": max|err| " << err
              << ", max|y| " << scale << ", ratio " << err / scale << "\n";
    EXPECT_EQ(within_scale(got, want, scale), "") << l.C << " at " << l.HW;
  }
}

}  // namespace
}  // namespace kiln::test
