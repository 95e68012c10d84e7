// The direct depthwise kernel (dwconv2d_f32) on every compiled arch the CPU
// runs, against the reference convolution of one plane plus the epilogue in
// double, over widths 1 … 2·16 + 1 (every tail of every vector width), maps
// from 1×1 to multi-band ones, symmetric and asymmetric pads, both kernel
// sizes and strides, every activation, with and without residual. The input
// and residual planes end at an unreadable page (a read past them faults),
// the output and workspace sit between guard regions, and the workspace starts
// out full of NaN (its stale contents must never reach the output).
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmath>
#include <cstring>

#include "kernels/reference/conv.h"
#include "kernels/simd/dwconv.h"
#include "kernels/simd_test_util.h"

namespace kiln::simd {
namespace {

using testing_util::act_ref;
using testing_util::Guarded;
using testing_util::ramp;

template <class Arch>
class SimdDwConv : public ::testing::Test {};

std::vector<ActParams> every_act() {
  return {{Act::None, 0, 0},      {Act::Relu, 0, 0},      {Act::LeakyRelu, 0.1f, 0}, {Act::Clip, 0.f, 0.5f},
          {Act::Sigmoid, 0, 0},   {Act::HardSigmoid, 0.2f, 0.5f}, {Act::HardSwish, 0, 0}, {Act::Tanh, 0, 0},
          {Act::SiLU, 0, 0},      {Act::Softplus, 0, 0},  {Act::Mish, 0, 0},         {Act::Gelu, 0, 0},
          {Act::GeluTanh, 0, 0}};
}
TYPED_TEST_SUITE(SimdDwConv, testing_util::Archs, testing_util::ArchNames);

// The activations in double: the definitions the ops document.
// A copy of v whose last element is the last readable float before a
// PROT_NONE page: any read past the end faults.
class PageEnd {
 public:
  explicit PageEnd(const std::vector<float>& v) {
    const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE)), bytes = v.size() * sizeof(float);
    len_ = (bytes + page - 1) / page * page + page;
    map_ = mmap(nullptr, len_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    EXPECT_NE(map_, MAP_FAILED);
    char* end = static_cast<char*>(map_) + len_ - page;
    EXPECT_EQ(mprotect(end, page, PROT_NONE), 0);
    data_ = reinterpret_cast<float*>(end - bytes);
    if (!v.empty()) std::memcpy(data_, v.data(), bytes);
  }
  ~PageEnd() { munmap(map_, len_); }
  PageEnd(const PageEnd&) = delete;
  PageEnd& operator=(const PageEnd&) = delete;
  const float* data() const { return data_; }

 private:
  void* map_ = nullptr;
  size_t len_ = 0;
  float* data_ = nullptr;
};

// The geometry of one case (output size from the pads) and the reference
// convolution's view of one of its planes.
DwConvParams dw_params(int K, int S, int64_t H, int64_t Wd, int64_t pt, int64_t pl, int64_t pb, int64_t pr,
                       const ActParams& act) {
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
  return p;
}
kernels::ref::ConvShape ref_shape(const DwConvParams& p) {
  kernels::ref::ConvShape s;
  s.in_spatial = {p.H, p.W};
  s.out_spatial = {p.OH, p.OW};
  s.kernel = {p.kernel, p.kernel};
  s.strides = {p.stride, p.stride};
  s.dilations = {1, 1};
  s.pads_begin = {p.pad_top, p.pad_left};
  return s;
}

// Runs one case and compares with the reference conv of a 1-channel plane.
template <class Arch>
void check_case(int K, int S, int64_t H, int64_t Wd, int64_t pt, int64_t pl, int64_t pb, int64_t pr,
                const ActParams& act, bool residual) {
  const DwConvParams p = dw_params(K, S, H, Wd, pt, pl, pb, pr, act);
  ASSERT_TRUE(dwconv2d_supported(p));
  const std::vector<float> x = ramp(H * Wd, -1.f, 1.f, static_cast<uint32_t>(H * 31 + Wd));
  const std::vector<float> w = ramp(K * K, -1.f, 1.f, static_cast<uint32_t>(K + S));
  const std::vector<float> z = ramp(p.OH * p.OW, -0.5f, 0.5f, 3);
  const float bias = 0.25f;

  const kernels::ref::ConvShape s = ref_shape(p);
  std::vector<float> want(static_cast<size_t>(p.OH * p.OW));
  kernels::ref::conv_f32(s, x.data(), w.data(), &bias, want.data());

  const PageEnd xg(x), zg(z);
  Guarded y(p.OH * p.OW), work(dwconv2d_workspace_floats(p), std::nanf(""));
  dwconv2d_f32{}(Arch{}, p, xg.data(), w.data(), bias, residual ? zg.data() : nullptr, y.data(), work.data());
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
  for (const ActParams& a : every_act())
    for (bool res : {false, true})
      for (int K : {3, 5})
        for (int S : {1, 2})
          for (int64_t Wd : {5, 16, 19, 33}) check_case<Arch>(K, S, 8, Wd, K / 2, K / 2, K / 2, K / 2, a, res);
}

// Small maps (one vector spans several output rows; the last rows end at the
// plane's end) with every pad pattern, residual, and both epilogue paths (an
// in-register activation and a costly one run over the finished plane).
TYPED_TEST(SimdDwConv, SmallMapsEveryEdge) {
  using Arch = TypeParam;
  KILN_SKIP_UNLESS_ARCH(Arch);
  const int64_t pads[][4] = {{0, 0, 0, 0}, {1, 1, 1, 1}, {2, 2, 2, 2}, {0, 1, 2, 0},
                             {2, 0, 1, 2}, {1, 2, 0, 1}, {0, 0, 1, 1}, {1, 1, 0, 0}};
  const ActParams acts[] = {{Act::None, 0, 0}, {Act::Relu, 0, 0}, {Act::SiLU, 0, 0}};
  for (int K : {3, 5})
    for (int S : {1, 2})
      for (int64_t H : {1, 2, 7, 14})
        for (int64_t Wd : {1, 2, 7, 14})
          for (const auto& pd : pads) {
            if (H + pd[0] + pd[2] < K || Wd + pd[1] + pd[3] < K) continue;  // empty output
            for (const ActParams& a : acts)
              for (bool res : {false, true}) check_case<Arch>(K, S, H, Wd, pd[0], pd[1], pd[2], pd[3], a, res);
          }
}

// Widths and heights just below, at and above multiples of every vector width
// (4, 8, 16 floats), for the padded pitch and for the flattened plane.
TYPED_TEST(SimdDwConv, VectorEdgeWidths) {
  using Arch = TypeParam;
  KILN_SKIP_UNLESS_ARCH(Arch);
  for (int K : {3, 5})
    for (int S : {1, 2})
      for (int64_t Wd : {15, 16, 17, 30, 31, 32, 33, 34, 47, 48, 49, 63, 64, 65, 66})
        for (int64_t H : {3, 8, 9}) {
          check_case<Arch>(K, S, H, Wd, K / 2, K / 2, K / 2, K / 2, ActParams{Act::Relu, 0, 0}, true);
          if (H + 1 >= K) check_case<Arch>(K, S, H, Wd, 1, 0, 0, 1, ActParams{}, false);
        }
}

// Maps large enough to run in several bands of output rows: the output of one
// band spills into the next, the padded rows are filled band by band, and
// the costly activations run per band.
TYPED_TEST(SimdDwConv, SeveralBands) {
  using Arch = TypeParam;
  KILN_SKIP_UNLESS_ARCH(Arch);
  const ActParams acts[] = {{Act::Relu, 0, 0}, {Act::Sigmoid, 0, 0}};
  for (int K : {3, 5})
    for (int S : {1, 2})
      for (const auto& hw : {std::pair<int64_t, int64_t>{75 * S, 61 * S}, {41 * S, 130 * S}, {112, 112}})
        for (const ActParams& a : acts)
          for (bool res : {false, true}) {
            DwConvParams p;
            p.kernel = K;
            p.stride = S;
            p.OW = (hw.second + 2 * (K / 2) - K) / S + 1;
            p.OH = (hw.first + 2 * (K / 2) + 1 - K) / S + 1;
            ASSERT_LT(detail::dw_layout(p).band, p.OH) << "the map fits one band";
            check_case<Arch>(K, S, hw.first, hw.second, K / 2, K / 2, K / 2 + 1, K / 2, a, res);
          }
}

// ---- The channel-blocked kernel (dwconv2d_blocked_f32) ----

// `channels` planes with their own weights and biases (and residuals),
// against the reference per plane. Channel counts below, at and above every
// vector width exercise the partial blocks.
template <class Arch>
void check_blocked(int K, int S, int64_t H, int64_t Wd, int64_t pt, int64_t pl, int64_t pb, int64_t pr,
                   int64_t channels, const ActParams& act, bool residual, bool with_bias = true) {
  const DwConvParams p = dw_params(K, S, H, Wd, pt, pl, pb, pr, act);
  ASSERT_TRUE(dwconv2d_supported(p));
  const int64_t isz = H * Wd, osz = p.OH * p.OW;
  const std::vector<float> x = ramp(channels * isz, -1.f, 1.f, static_cast<uint32_t>(H * 31 + Wd));
  const std::vector<float> w = ramp(channels * K * K, -1.f, 1.f, static_cast<uint32_t>(K + S));
  const std::vector<float> z = ramp(channels * osz, -0.5f, 0.5f, 3);
  const std::vector<float> bias = ramp(channels, -0.5f, 0.5f, 7);

  const kernels::ref::ConvShape s = ref_shape(p);

  const PageEnd xg(x), zg(z);
  Guarded y(channels * osz), work(dwconv2d_blocked_workspace_floats(p), std::nanf(""));
  dwconv2d_blocked_f32{}(Arch{}, p, channels, xg.data(), w.data(), with_bias ? bias.data() : nullptr,
                         residual ? zg.data() : nullptr, y.data(), work.data());
  std::vector<float> want(static_cast<size_t>(osz));
  for (int64_t c = 0; c < channels; ++c) {
    const float b = with_bias ? bias[c] : 0.f;
    kernels::ref::conv_f32(s, x.data() + c * isz, w.data() + c * K * K, &b, want.data());
    for (int64_t i = 0; i < osz; ++i) {
      const double pre = static_cast<double>(want[i]) + (residual ? z[c * osz + i] : 0.0);
      const double e = act_ref(act, pre);
      ASSERT_NEAR(y[c * osz + i], e, 1e-5 * std::fabs(e) + 2e-6)
          << "K " << K << " S " << S << " H " << H << " W " << Wd << " pads " << pt << "," << pl << "," << pb
          << "," << pr << " channels " << channels << " act " << int(act.kind) << " c " << c << " i " << i;
    }
  }
  ASSERT_TRUE(y.guards_intact()) << "K " << K << " S " << S << " H " << H << " W " << Wd << " C " << channels;
  ASSERT_TRUE(work.guards_intact()) << "workspace overrun: K " << K << " S " << S << " H " << H << " W " << Wd;
}

TYPED_TEST(SimdDwConv, BlockedEveryChannelCountAndEdge) {
  using Arch = TypeParam;
  KILN_SKIP_UNLESS_ARCH(Arch);
  const int64_t pads[][4] = {{0, 0, 0, 0}, {1, 1, 1, 1}, {2, 2, 2, 2}, {0, 1, 2, 0}, {2, 0, 1, 2}, {3, 4, 3, 4}};
  for (int K : {3, 5})
    for (int S : {1, 2})
      for (int64_t H : {1, 2, 7, 14})
        for (int64_t Wd : {1, 3, 7, 14, 17})
          for (const auto& pd : pads) {
            if (H + pd[0] + pd[2] < K || Wd + pd[1] + pd[3] < K) continue;  // empty output
            for (int64_t C : {1, 3, 4, 5, 8, 9, 16, 17, 33})
              check_blocked<Arch>(K, S, H, Wd, pd[0], pd[1], pd[2], pd[3], C, ActParams{}, false);
          }
}

TYPED_TEST(SimdDwConv, BlockedEpilogues) {
  using Arch = TypeParam;
  KILN_SKIP_UNLESS_ARCH(Arch);
  for (const ActParams& a : every_act())
    for (bool res : {false, true})
      for (int K : {3, 5})
        for (int S : {1, 2}) {
          check_blocked<Arch>(K, S, 7, 7, K / 2, K / 2, K / 2, K / 2, 19, a, res);
          check_blocked<Arch>(K, S, 9, 12, 0, 1, 1, 0, 4, a, res, false);
        }
}

// The map sizes of MobileNet/EfficientNet layers the kernel is chosen for.
TYPED_TEST(SimdDwConv, BlockedNetworkShapes) {
  using Arch = TypeParam;
  KILN_SKIP_UNLESS_ARCH(Arch);
  for (int K : {3, 5})
    for (int S : {1, 2})
      for (int64_t hw : {14, 28, 56}) {
        const int64_t pb = S == 2 ? K / 2 - 1 : K / 2;  // even maps, stride 2: as exported (or SAME_UPPER)
        check_blocked<Arch>(K, S, hw, hw, K / 2, K / 2, std::max<int64_t>(pb, 0), std::max<int64_t>(pb, 0), 20,
                            ActParams{Act::Clip, 0.f, 6.f}, S == 1);
      }
}

}  // namespace
}  // namespace kiln::simd
