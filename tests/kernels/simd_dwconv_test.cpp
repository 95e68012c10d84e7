// The direct depthwise kernel (dwconv2d_f32) on every compiled arch the CPU
// runs, against the reference convolution of one plane plus the epilogue in
// double, over widths 1 … 2·16 + 1 (every tail of every vector width), several
// heights and pads, both kernel sizes and strides; guard regions around the
// output and the workspace.
#include <gtest/gtest.h>

#include <cmath>

#include "kernels/reference/conv.h"
#include "kernels/simd/dwconv.h"
#include "kernels/simd_test_util.h"

namespace kiln::simd {
namespace {

using testing_util::Guarded;
using testing_util::ramp;

template <class Arch>
class SimdDwConv : public ::testing::Test {};
TYPED_TEST_SUITE(SimdDwConv, testing_util::Archs, testing_util::ArchNames);

double act_ref(const ActParams& p, double x) {
  switch (p.kind) {
    case Act::Relu: return x < 0 ? 0 : x;
    case Act::Clip: return std::min(std::max(x, double(p.alpha)), double(p.beta));
    case Act::LeakyRelu: return x >= 0 ? x : p.alpha * x;
    case Act::HardSwish: return x * std::min(1.0, std::max(0.0, x / 6 + 0.5));
    case Act::Sigmoid: return 1 / (1 + std::exp(-x));
    default: return x;
  }
}

// Runs one case and compares with the reference conv of a 1-channel plane.
template <class Arch>
void check_case(int K, int S, int64_t H, int64_t Wd, int64_t pt, int64_t pl, int64_t pb, int64_t pr,
                const ActParams& act, bool residual) {
  DwConvParams p;
  p.H = H;
  p.W = Wd;
  p.kernel = K;
  p.stride = S;
  p.pad_top = pt;
  p.pad_left = pl;
  p.OH = (H + pt + pb - K) / S + 1;
  p.OW = (Wd + pl + pr - K) / S + 1;
  p.act = act;
  ASSERT_TRUE(dwconv2d_supported(p));
  const std::vector<float> x = ramp(H * Wd, -1.f, 1.f, static_cast<uint32_t>(H * 31 + Wd));
  const std::vector<float> w = ramp(K * K, -1.f, 1.f, static_cast<uint32_t>(K + S));
  const std::vector<float> z = ramp(p.OH * p.OW, -0.5f, 0.5f, 3);
  const float bias = 0.25f;

  kernels::ref::ConvShape s;
  s.in_spatial = {H, Wd};
  s.out_spatial = {p.OH, p.OW};
  s.kernel = {K, K};
  s.strides = {S, S};
  s.dilations = {1, 1};
  s.pads_begin = {pt, pl};
  std::vector<float> want(static_cast<size_t>(p.OH * p.OW));
  kernels::ref::conv_f32(s, x.data(), w.data(), &bias, want.data());

  Guarded y(p.OH * p.OW), work(dwconv2d_workspace_floats(p));
  dwconv2d_f32{}(Arch{}, p, x.data(), w.data(), bias, residual ? z.data() : nullptr, y.data(), work.data());
  for (int64_t i = 0; i < p.OH * p.OW; ++i) {
    const double pre = static_cast<double>(want[i]) + (residual ? z[i] : 0.0);
    const double e = act_ref(act, pre);
    ASSERT_NEAR(y[i], e, 1e-5 * std::fabs(e) + 2e-6)
        << "K " << K << " S " << S << " H " << H << " W " << Wd << " pads " << pt << "," << pl << "," << pb << ","
        << pr << " act " << int(act.kind) << " i " << i;
  }
  ASSERT_TRUE(y.guards_intact()) << "K " << K << " S " << S << " H " << H << " W " << Wd;
  ASSERT_TRUE(work.guards_intact()) << "workspace overrun: K " << K << " S " << S << " H " << H << " W " << Wd;
}

TYPED_TEST(SimdDwConv, EveryWidthPadAndStride) {
  using Arch = TypeParam;
  KILN_SKIP_UNLESS_ARCH(Arch);
  for (int K : {3, 5})
    for (int S : {1, 2})
      for (int64_t pad : {0, 1, 2})
        for (int64_t H : {int64_t{K}, int64_t{K + 2}, int64_t{11}})
          for (int64_t Wd = 1; Wd <= 2 * 16 + 1; ++Wd) {
            if (Wd + 2 * pad < K) continue;  // empty output
            check_case<Arch>(K, S, H, Wd, pad, pad, pad, pad, ActParams{}, false);
          }
}

TYPED_TEST(SimdDwConv, AsymmetricPads) {
  using Arch = TypeParam;
  KILN_SKIP_UNLESS_ARCH(Arch);
  for (int K : {3, 5})
    for (int S : {1, 2})
      for (int64_t Wd : {7, 16, 17, 29}) {
        check_case<Arch>(K, S, 9, Wd, 0, 1, 2, 0, ActParams{}, false);  // SAME_LOWER-like
        check_case<Arch>(K, S, 9, Wd, 1, 0, 0, 1, ActParams{}, false);
        check_case<Arch>(K, S, 6, Wd, 3, 4, 3, 4, ActParams{}, false);  // pads beyond the kernel
      }
}

TYPED_TEST(SimdDwConv, EpilogueActivationsAndResidual) {
  using Arch = TypeParam;
  KILN_SKIP_UNLESS_ARCH(Arch);
  const std::vector<ActParams> acts = {{Act::Relu, 0, 0},      {Act::Clip, 0.f, 0.5f}, {Act::LeakyRelu, 0.1f, 0},
                                       {Act::HardSwish, 0, 0}, {Act::Sigmoid, 0, 0},  {Act::None, 0, 0}};
  for (const ActParams& a : acts)
    for (bool res : {false, true})
      for (int K : {3, 5})
        for (int S : {1, 2})
          for (int64_t Wd : {5, 16, 19, 33}) check_case<Arch>(K, S, 8, Wd, K / 2, K / 2, K / 2, K / 2, a, res);
}

}  // namespace
}  // namespace kiln::simd
