// The few-input-channel direct path of Conv (ops/conv_small_c.h): called
// directly on batch 2 with every fused activation and a residual against the
// reference conv, bit-identical at 1 and 2 threads; and through a session,
// where a first layer (7×7 stride 2, 3 → 64) and its fused Add + Relu run on
// it (the kernel the profile names is checked) while C > 4 does not.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "runtime/parallel.h"

#include "kernels/reference/conv.h"
#include "kernels/simd_test_util.h"
#include "ops/conv_small_c.h"
#include "support/model_builder.h"
#include "support/test_util.h"

namespace kiln::test {
namespace {

kernels::ref::ConvShape first_layer(int64_t N, int64_t C, int64_t M, int64_t H, int64_t W, int64_t k, int64_t s,
                                    int64_t p) {
  kernels::ref::ConvShape cs;
  cs.batch = N;
  cs.in_channels = C;
  cs.out_channels = M;
  cs.in_spatial = {H, W};
  cs.out_spatial = {(H + 2 * p - k) / s + 1, (W + 2 * p - k) / s + 1};
  cs.kernel = {k, k};
  cs.strides = {s, s};
  cs.dilations = {1, 1};
  cs.pads_begin = {p, p};
  return cs;
}

using simd::testing_util::act_ref;  // the activation in double

Tensor run_direct(const ops::SmallCWeights& u, const kernels::ref::ConvShape& s, const Tensor& x, const Tensor& b,
                  const Tensor* z, const simd::ActParams& act, int threads) {
  Tensor y(DType::Float32, {s.batch, s.out_channels, s.out_spatial[0], s.out_spatial[1]});
  kiln::runtime::Arena arena(threads);
  arena.execute([&] {
    ops::small_c_conv_f32(u, s, x.data_as<float>(), b.data_as<float>(), z ? z->data_as<float>() : nullptr, act,
                          y.data_as<float>());
  });
  return y;
}

TEST(ConvSmallC, BatchEpiloguesAndThreadCounts) {
  struct L {
    int64_t C, M, H, W, k, s, p;
  };
  uint32_t seed = 1;
  for (const L& l : {L{3, 64, 37, 45, 7, 2, 3}, L{3, 24, 29, 33, 3, 2, 1}, L{1, 9, 20, 17, 5, 1, 2},
                     L{4, 13, 15, 40, 3, 1, 0}}) {
    const kernels::ref::ConvShape s = first_layer(2, l.C, l.M, l.H, l.W, l.k, l.s, l.p);
    ASSERT_TRUE(ops::small_c_geometry(s));
    const Tensor x = random_f32({2, l.C, l.H, l.W}, ++seed), w = random_f32({l.M, l.C, l.k, l.k}, ++seed),
                 b = random_f32({l.M}, ++seed);
    const auto u = ops::small_c_weights(w.data_as<float>(), l.M, l.C, l.k, l.k);
    Tensor conv(DType::Float32, {2, l.M, s.out_spatial[0], s.out_spatial[1]});
    kernels::ref::conv_f32(s, x.data_as<float>(), w.data_as<float>(), b.data_as<float>(), conv.data_as<float>());
    const Tensor z = random_f32(conv.shape(), ++seed, -2.f, 2.f);
    for (simd::Act k : {simd::Act::None, simd::Act::Relu, simd::Act::Clip, simd::Act::LeakyRelu, simd::Act::Sigmoid,
                        simd::Act::HardSigmoid, simd::Act::HardSwish, simd::Act::Tanh, simd::Act::SiLU})
      for (bool residual : {false, true}) {
        simd::ActParams act;
        act.kind = k;
        if (k == simd::Act::Clip) act.alpha = -0.5f, act.beta = 0.5f;
        if (k == simd::Act::LeakyRelu) act.alpha = 0.1f;
        if (k == simd::Act::HardSigmoid) act.alpha = 0.2f, act.beta = 0.5f;
        Tensor want(DType::Float32, conv.shape());
        for (int64_t i = 0; i < conv.numel(); ++i) {
          const double v = double{conv.data_as<float>()[i]} + (residual ? z.data_as<float>()[i] : 0.0);
          want.data_as<float>()[i] = static_cast<float>(act_ref(act, v));
        }
        const Tensor y1 = run_direct(*u, s, x, b, residual ? &z : nullptr, act, 1);
        const Tensor y2 = run_direct(*u, s, x, b, residual ? &z : nullptr, act, 2);
        const std::string what = "C" + std::to_string(l.C) + " M" + std::to_string(l.M) + " k" +
                                 std::to_string(l.k) + " s" + std::to_string(l.s) + " act " +
                                 std::to_string(static_cast<int>(k)) + (residual ? " +z" : "");
        EXPECT_EQ(compare_tensors(y1, y2, 0, 0), "") << what << ": 1 vs 2 threads";
        // Sums of up to 147 products of values in [-1, 1]: float32 rounding
        // stays well below 1e-4, a wrong tap or epilogue moves outputs by O(1).
        EXPECT_EQ(compare_tensors(y1, want, 1e-4, 1e-5), "") << what;
      }
  }
}

// Through a session: a ResNet stem Conv → Add → Relu fuses into a
// kiln.FusedConv that runs on the direct kernel.
TEST(ConvSmallC, SessionPicksItForFirstLayers) {
  const int64_t C = 3, M = 64, H = 30, OH = 15;
  ModelBuilder m(17);
  m.input("x", DType::Float32, {1, C, H, H}).input("z", DType::Float32, {1, M, OH, OH});
  const Tensor w = random_f32({M, C, 7, 7}, 41), b = random_f32({M}, 42);
  m.initializer("w", w).initializer("b", b);
  auto& conv = m.node("Conv", {"x", "w", "b"}, {"c"});
  attr(conv, "pads", std::vector<int64_t>{3, 3, 3, 3});
  attr(conv, "strides", std::vector<int64_t>{2, 2});
  m.node("Add", {"c", "z"}, {"s"});
  m.node("Relu", {"s"}, {"y"});
  m.output("y");
  const Tensor x = random_f32({1, C, H, H}, 43), z = random_f32({1, M, OH, OH}, 44, -2.f, 2.f);
  SessionOptions opt;
  opt.threads = 2;
  Session session = m.session(opt);
  std::vector<NodeProfile> profile;
  const auto y = session.run_profiled({x, z}, profile);
  bool direct = false;
  for (const NodeProfile& p : profile) direct |= p.kernel.rfind("conv_small_c_", 0) == 0;
  EXPECT_TRUE(direct) << "a 3-channel 7×7 stride-2 Conv did not run on the direct kernel";

  const kernels::ref::ConvShape s = first_layer(1, C, M, H, H, 7, 2, 3);
  Tensor want(DType::Float32, {1, M, OH, OH});
  kernels::ref::conv_f32(s, x.data_as<float>(), w.data_as<float>(), b.data_as<float>(), want.data_as<float>());
  for (int64_t i = 0; i < want.numel(); ++i) {
    const float v = want.data_as<float>()[i] + z.data_as<float>()[i];
    want.data_as<float>()[i] = v < 0 ? 0.f : v;
  }
  EXPECT_EQ(compare_tensors(y[0], want, 1e-4, 1e-5), "");
}

TEST(ConvSmallC, GeometryCoversFewChannelsOnly) {
  EXPECT_TRUE(ops::small_c_geometry(first_layer(1, 4, 8, 16, 16, 3, 1, 1)));
  EXPECT_FALSE(ops::small_c_geometry(first_layer(1, 5, 8, 16, 16, 3, 1, 1)));  // C > 4
  kernels::ref::ConvShape s = first_layer(1, 3, 8, 16, 16, 3, 3, 1);
  EXPECT_FALSE(ops::small_c_geometry(s));  // column stride 3
  s = first_layer(1, 3, 8, 16, 16, 3, 1, 1);
  s.dilations = {2, 2};
  EXPECT_FALSE(ops::small_c_geometry(s));
  s = first_layer(1, 4, 8, 16, 16, 3, 1, 1);
  s.group = 2;
  EXPECT_FALSE(ops::small_c_geometry(s));
}

}  // namespace
}  // namespace kiln::test
