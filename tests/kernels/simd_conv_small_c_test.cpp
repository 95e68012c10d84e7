// The few-input-channel direct convolution (conv_small_c_f32) on every
// compiled arch the CPU runs, against the reference convolution plus the
// epilogue in double: C = 1 … 4; kernels 1, 3, 5, 7 and non-square ones;
// strides 1 and 2 (and a taller row stride); pads 0 … 3, asymmetric; output
// widths around the vector widths (1, 15, 16, 17, 33); output channel counts
// that are not multiples of the register block; heights that leave a partial
// row block; with and without bias and residual, every activation kind; guard
// regions around the output and the workspace; and bit-identical results for
// any split of the output rows over calls.
#include <gtest/gtest.h>

#include <cmath>
#include <sstream>

#include "kernels/reference/conv.h"
#include "kernels/simd/conv_small_c.h"
#include "kernels/simd_test_util.h"

namespace kiln::simd {
namespace {

using testing_util::act_ref;
using testing_util::Guarded;
using testing_util::ramp;

template <class Arch>
class SimdConvSmallC : public ::testing::Test {};
TYPED_TEST_SUITE(SimdConvSmallC, testing_util::Archs, testing_util::ArchNames);

struct Case {
  int64_t C = 3, M = 11;
  int64_t KH = 3, KW = 3, SH = 1, SW = 1;
  int64_t OH = 3, OW = 16;
  int64_t pt = 0, pl = 0, pb = 0, pr = 0;
  bool bias = true, residual = false;
  ActParams act;

  std::string str() const {
    std::ostringstream o;
    o << "C " << C << " M " << M << " k " << KH << "x" << KW << " s " << SH << "," << SW << " out " << OH << "x" << OW
      << " pads " << pt << "," << pl << "," << pb << "," << pr << " bias " << bias << " res " << residual << " act "
      << int(act.kind);
    return o.str();
  }
};

// The input extent that gives c.OH × c.OW outputs; false if none does.
bool input_extent(const Case& c, int64_t* H, int64_t* W) {
  *H = (c.OH - 1) * c.SH + c.KH - c.pt - c.pb;
  *W = (c.OW - 1) * c.SW + c.KW - c.pl - c.pr;
  return *H > 0 && *W > 0;
}
bool has_input(const Case& c) {
  int64_t H, W;
  return input_extent(c, &H, &W);
}

// Runs the kernel over output rows split at `splits` (ascending, within (0, OH)).
template <class Arch>
std::vector<float> run_kernel(const Case& c, const SmallCConvParams& p, const std::vector<float>& x,
                              const std::vector<float>& packed, const std::vector<float>& bias,
                              const std::vector<float>& z, const std::vector<int64_t>& splits) {
  Guarded y(c.M * c.OH * c.OW);
  std::vector<int64_t> cuts{0};
  cuts.insert(cuts.end(), splits.begin(), splits.end());
  cuts.push_back(c.OH);
  for (size_t i = 0; i + 1 < cuts.size(); ++i) {
    Guarded work(conv_small_c_workspace_floats(p, cuts[i + 1] - cuts[i]));
    conv_small_c_f32{}(Arch{}, p, x.data(), packed.data(), c.bias ? bias.data() : nullptr,
                       c.residual ? z.data() : nullptr, y.data(), cuts[i], cuts[i + 1], work.data());
    EXPECT_TRUE(work.guards_intact()) << "workspace overrun: " << c.str();
  }
  EXPECT_TRUE(y.guards_intact()) << "output overrun: " << c.str();
  return std::vector<float>(y.data(), y.data() + y.size());
}

template <class Arch>
void check_case(const Case& c, const std::vector<int64_t>& splits = {}) {
  int64_t H, W;
  ASSERT_TRUE(input_extent(c, &H, &W)) << c.str();
  SmallCConvParams p;
  p.C = c.C;
  p.M = c.M;
  p.H = H;
  p.W = W;
  p.OH = c.OH;
  p.OW = c.OW;
  p.KH = c.KH;
  p.KW = c.KW;
  p.stride_h = c.SH;
  p.stride_w = c.SW;
  p.pad_top = c.pt;
  p.pad_left = c.pl;
  p.act = c.act;
  ASSERT_TRUE(conv_small_c_supported(p)) << c.str();
  const int64_t T = c.C * c.KH * c.KW, osz = c.M * c.OH * c.OW;
  const std::vector<float> x = ramp(c.C * H * W, -1.f, 1.f, static_cast<uint32_t>(H * 31 + W + c.C));
  const std::vector<float> w = ramp(c.M * T, -1.f, 1.f, static_cast<uint32_t>(T + c.M));
  const std::vector<float> bias = ramp(c.M, -0.5f, 0.5f, 7);
  const std::vector<float> z = ramp(osz, -1.f, 1.f, 3);
  std::vector<float> packed(static_cast<size_t>(conv_small_c_packed_floats(c.M, c.C, c.KH, c.KW)));
  pack_conv_small_c_weights(w.data(), c.M, c.C, c.KH, c.KW, packed.data());

  // The reference, and the same convolution of |x|, |w|, |bias|: a bound on
  // the magnitudes summed, which scales the float32 rounding allowed.
  kernels::ref::ConvShape s;
  s.in_channels = c.C;
  s.out_channels = c.M;
  s.in_spatial = {H, W};
  s.out_spatial = {c.OH, c.OW};
  s.kernel = {c.KH, c.KW};
  s.strides = {c.SH, c.SW};
  s.dilations = {1, 1};
  s.pads_begin = {c.pt, c.pl};
  std::vector<float> want(static_cast<size_t>(osz)), mag(static_cast<size_t>(osz));
  kernels::ref::conv_f32(s, x.data(), w.data(), c.bias ? bias.data() : nullptr, want.data());
  auto absv = [](std::vector<float> v) {
    for (float& e : v) e = std::fabs(e);
    return v;
  };
  const std::vector<float> ax = absv(x), aw = absv(w), ab = absv(bias);
  kernels::ref::conv_f32(s, ax.data(), aw.data(), c.bias ? ab.data() : nullptr, mag.data());

  const std::vector<float> y = run_kernel<Arch>(c, p, x, packed, bias, z, splits);
  for (int64_t i = 0; i < osz; ++i) {
    const double pre = static_cast<double>(want[i]) + (c.residual ? z[i] : 0.0);
    const double e = act_ref(c.act, pre);
    const double tol = 4e-7 * (mag[i] + (c.residual ? 1.0 : 0.0)) + 1e-6 * std::fabs(e) + 1e-7;
    ASSERT_NEAR(y[i], e, tol) << c.str() << " at m " << i / (c.OH * c.OW) << " oy " << (i / c.OW) % c.OH << " ox "
                              << i % c.OW;
  }
}

TYPED_TEST(SimdConvSmallC, EveryChannelCountKernelStrideAndWidth) {
  using Arch = TypeParam;
  KILN_SKIP_UNLESS_ARCH(Arch);
  for (int64_t C = 1; C <= 4; ++C)
    for (int64_t K : {1, 3, 5, 7})
      for (int64_t S : {1, 2})
        for (int64_t OW : {1, 15, 16, 17, 33}) {
          Case c;
          c.C = C;
          c.KH = c.KW = K;
          c.SH = c.SW = S;
          c.OW = OW;
          c.pt = c.pl = c.pb = c.pr = K / 2;
          check_case<Arch>(c);
          c.pt = c.pl = c.pb = c.pr = 0;
          check_case<Arch>(c);
        }
}

TYPED_TEST(SimdConvSmallC, AsymmetricPadsUpToThree) {
  using Arch = TypeParam;
  KILN_SKIP_UNLESS_ARCH(Arch);
  for (int64_t K : {3, 7})
    for (int64_t S : {1, 2})
      for (int64_t pt = 0; pt <= 3; ++pt)
        for (int64_t pl = 0; pl <= 3; ++pl)
          for (int64_t pe : {0, 1, 3}) {
            Case c;
            c.KH = c.KW = K;
            c.SH = c.SW = S;
            c.OH = 4;
            c.OW = 17;
            c.pt = pt;
            c.pl = pl;
            c.pb = pe;
            c.pr = 3 - pe;
            if (has_input(c)) check_case<Arch>(c);  // else all padding: no such input
          }
}

TYPED_TEST(SimdConvSmallC, OutputChannelsAndRowTails) {
  using Arch = TypeParam;
  KILN_SKIP_UNLESS_ARCH(Arch);
  for (int64_t M : {1, 2, 3, 4, 5, 7, 8, 9, 12, 16, 17, 24, 33})
    for (int64_t OH : {1, 2, 5})
      for (int64_t S : {1, 2}) {
        Case c;
        c.M = M;
        c.OH = OH;
        c.OW = 19;
        c.SH = c.SW = S;
        c.pt = c.pl = c.pb = c.pr = 1;
        check_case<Arch>(c);
      }
}

TYPED_TEST(SimdConvSmallC, NonSquareKernelsAndStrides) {
  using Arch = TypeParam;
  KILN_SKIP_UNLESS_ARCH(Arch);
  const int64_t shapes[][4] = {{1, 5, 1, 2}, {5, 1, 2, 1}, {3, 7, 3, 2}, {7, 3, 1, 2}, {2, 2, 2, 2}, {9, 9, 2, 2},
                               {11, 11, 3, 1}};
  for (const auto& k : shapes)
    for (int64_t OW : {1, 16, 33}) {
      Case c;
      c.C = 2;
      c.M = 10;
      c.KH = k[0];
      c.KW = k[1];
      c.SH = k[2];
      c.SW = k[3];
      c.OH = 5;
      c.OW = OW;
      c.pt = c.pb = k[0] / 2;
      c.pl = 1;
      c.pr = 2;
      if (has_input(c)) check_case<Arch>(c);
    }
}

TYPED_TEST(SimdConvSmallC, EpilogueBiasResidualAndActivations) {
  using Arch = TypeParam;
  KILN_SKIP_UNLESS_ARCH(Arch);
  const std::vector<ActParams> acts = {{Act::None, 0, 0},         {Act::Relu, 0, 0},      {Act::LeakyRelu, 0.1f, 0},
                                       {Act::Clip, -0.5f, 0.75f}, {Act::Sigmoid, 0, 0},   {Act::HardSigmoid, 0.2f, 0.5f},
                                       {Act::HardSwish, 0, 0},    {Act::Tanh, 0, 0},      {Act::SiLU, 0, 0}};
  for (const ActParams& a : acts)
    for (bool bias : {false, true})
      for (bool res : {false, true})
        for (int64_t S : {1, 2})
          for (int64_t OW : {15, 33}) {
            Case c;
            c.M = 13;
            c.KH = c.KW = 3;
            c.SH = c.SW = S;
            c.OH = 3;
            c.OW = OW;
            c.pt = c.pl = c.pb = c.pr = 1;
            c.bias = bias;
            c.residual = res;
            c.act = a;
            check_case<Arch>(c);
          }
}

// Every output sums the same terms in the same order whatever rows a call
// covers: splits of the rows give bit-identical results (so a split over
// threads cannot change them).
TYPED_TEST(SimdConvSmallC, RowSplitsAreBitIdentical) {
  using Arch = TypeParam;
  KILN_SKIP_UNLESS_ARCH(Arch);
  Case c;
  c.M = 19;
  c.KH = c.KW = 7;
  c.SH = c.SW = 2;
  c.OH = 9;
  c.OW = 21;
  c.pt = c.pl = c.pb = c.pr = 3;
  c.residual = true;
  c.act = {Act::SiLU, 0, 0};
  check_case<Arch>(c);  // also checks the one-call result against the reference
  int64_t H, W;
  ASSERT_TRUE(input_extent(c, &H, &W));
  SmallCConvParams p{c.C, c.M, H, W, c.OH, c.OW, c.KH, c.KW, c.SH, c.SW, c.pt, c.pl, c.act};
  const std::vector<float> x = ramp(c.C * H * W, -1.f, 1.f, 5), w = ramp(c.M * c.C * 49, -1.f, 1.f, 6);
  const std::vector<float> bias = ramp(c.M, -1.f, 1.f, 8), z = ramp(c.M * c.OH * c.OW, -1.f, 1.f, 9);
  std::vector<float> packed(static_cast<size_t>(conv_small_c_packed_floats(c.M, c.C, 7, 7)));
  pack_conv_small_c_weights(w.data(), c.M, c.C, 7, 7, packed.data());
  const std::vector<float> whole = run_kernel<Arch>(c, p, x, packed, bias, z, {});
  for (const std::vector<int64_t>& splits : std::vector<std::vector<int64_t>>{{1}, {3, 4}, {1, 2, 3, 4, 5, 6, 7, 8}, {5}})
    EXPECT_EQ(run_kernel<Arch>(c, p, x, packed, bias, z, splits), whole);
}

}  // namespace
}  // namespace kiln::simd
