// pool2d_f32 on every compiled arch the CPU runs against the reference
// pools (kernels/reference/pool.h): the common windows (3×3 s2 p1, 2×2 s2,
// 3×3 s1 p1), ceil_mode's extra window, count_include_pad both ways, uneven
// pads, dilation, a stride the vector path does not take, every output-row
// tail, with guard regions around the output.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "kernels/reference/pool.h"
#include "kernels/simd/pool.h"
#include "kernels/simd_test_util.h"

namespace kiln::simd {
namespace {

using testing_util::Guarded;
using testing_util::ramp;

template <class Arch>
class SimdPool : public ::testing::Test {};
TYPED_TEST_SUITE(SimdPool, testing_util::Archs, testing_util::ArchNames);

struct Window {
  int64_t k, s, pb, pe, d;
  bool ceil;
};

// Output size as the pool ops compute it (explicit pads).
int64_t out_size(int64_t in, const Window& w) {
  const int64_t dk = (w.k - 1) * w.d + 1, span = in + w.pb + w.pe - dk;
  int64_t out = (w.ceil ? (span + w.s - 1) / w.s : span / w.s) + 1;
  if (w.ceil && (out - 1) * w.s >= in + w.pb) --out;
  return out;
}

template <class Arch>
void check(const Window& wh, const Window& ww, int64_t H, int64_t Wd, bool max, bool include_pad, uint32_t seed) {
  kernels::ref::PoolGeometry g;
  g.in = {1, H, Wd};
  g.out = {1, out_size(H, wh), out_size(Wd, ww)};
  g.kernel = {1, wh.k, ww.k};
  g.stride = {1, wh.s, ww.s};
  g.dilation = {1, wh.d, ww.d};
  g.pad_begin = {0, wh.pb, ww.pb};
  g.pad_end = {0, wh.pe, ww.pe};
  if (g.out[1] < 1 || g.out[2] < 1) return;
  const int64_t planes = 2;
  const std::vector<float> x = ramp(planes * H * Wd, -4.f, 4.f, seed);
  std::vector<float> want(static_cast<size_t>(planes * g.out_plane()));
  if (max) kernels::ref::max_pool(x.data(), want.data(), nullptr, g, 0, 0, planes);
  else kernels::ref::average_pool(x.data(), want.data(), g, include_pad, 0, planes);

  Pool2dParams p;
  p.H = H;
  p.W = Wd;
  p.OH = g.out[1];
  p.OW = g.out[2];
  p.kh = wh.k;
  p.kw = ww.k;
  p.sh = wh.s;
  p.sw = ww.s;
  p.dh = wh.d;
  p.dw = ww.d;
  p.ph = wh.pb;
  p.pw = ww.pb;
  p.ph_end = wh.pe;
  p.pw_end = ww.pe;
  p.max = max;
  p.count_include_pad = include_pad;
  std::vector<float> scratch(static_cast<size_t>(pool2d_scratch_floats(p)));
  for (int64_t pl = 0; pl < planes; ++pl) {
    Guarded y(g.out_plane());
    pool2d_f32{}(Arch{}, p, x.data() + pl * H * Wd, y.data(), scratch.data());
    ASSERT_TRUE(y.guards_intact()) << H << "x" << Wd << " k" << ww.k << " s" << ww.s;
    for (int64_t i = 0; i < g.out_plane(); ++i) {
      const float w = want[static_cast<size_t>(pl * g.out_plane() + i)];
      // Max is exact. An average sums at most 9 terms of |v| < 4 in float
      // (each add rounds by at most 2^-24·36) where the reference sums in double.
      const float tol = max ? 0.f : 2e-6f + 1e-6f * std::fabs(w);
      if (std::isnan(w)) {  // an average over an empty window (padding wider than the kernel's reach)
        ASSERT_TRUE(std::isnan(y[i])) << "i " << i;
        continue;
      }
      ASSERT_NEAR(y[i], w, tol) << (max ? "max " : "avg ") << H << "x" << Wd << " k" << wh.k << "x" << ww.k
                                << " s" << ww.s << " p" << ww.pb << "," << ww.pe << " ceil " << ww.ceil
                                << " include_pad " << include_pad << " i " << i;
    }
  }
}

TYPED_TEST(SimdPool, MatchesReference) {
  using Arch = TypeParam;
  KILN_SKIP_UNLESS_ARCH(Arch);
  const std::vector<Window> windows = {
      {3, 2, 1, 1, 1, false},  // ResNet/DenseNet stem max pool
      {2, 2, 0, 0, 1, false},  // DenseNet transition average pool
      {3, 1, 1, 1, 1, false},  // Inception-style 3×3 s1
      {3, 2, 0, 0, 1, true},   // ceil_mode (SqueezeNet): the last window hangs past the input
      {2, 2, 1, 0, 1, true},   // uneven pads with ceil_mode
      {3, 2, 1, 2, 2, false},  // dilation
      {3, 3, 1, 1, 1, true},   // stride 3: the scalar path
      {1, 1, 0, 0, 1, false},
  };
  uint32_t seed = 1;
  for (const Window& w : windows)
    for (int64_t Wd = 1; Wd <= 2 * 16 * w.s + 3; Wd += (Wd < 20 ? 1 : 5))
      for (int64_t H : {int64_t{1}, int64_t{5}, int64_t{8}})
        for (int mode = 0; mode < 3; ++mode) check<Arch>(w, w, H, Wd, mode == 0, mode == 2, seed++);
  // Different windows along the two axes.
  check<Arch>({3, 1, 1, 1, 1, false}, {2, 2, 0, 1, 1, true}, 9, 37, true, false, seed++);
  check<Arch>({2, 2, 0, 1, 1, true}, {3, 1, 1, 1, 1, false}, 9, 37, false, true, seed++);
}

TYPED_TEST(SimdPool, MaxIgnoresNaNAndKeepsLowestForEmptyReads) {
  using Arch = TypeParam;
  KILN_SKIP_UNLESS_ARCH(Arch);
  // H×20 planes, 3×3 windows stride 1 pad 1 (windows of 1, 2 and 3 rows):
  // NaN in some windows, in some all the rows of a column; all −inf in others.
  for (int64_t H : {1, 2, 3, 4}) {
    std::vector<float> x(static_cast<size_t>(H * 20), 1.f);
    for (int64_t r = 0; r < H; ++r) {
      x[r * 20 + 3 + 2 * r] = std::nanf("");
      x[r * 20 + 8] = std::nanf("");  // column 8 is NaN in every row
      for (int i = 10; i < 20; ++i) x[r * 20 + i] = -INFINITY;
    }
    Pool2dParams p;
    p.H = H;
    p.W = 20;
    p.OH = H;
    p.OW = 20;
    p.kh = p.kw = 3;
    p.ph = p.ph_end = p.pw = p.pw_end = 1;
    std::vector<float> scratch(static_cast<size_t>(pool2d_scratch_floats(p)));
    Guarded y(H * 20);
    pool2d_f32{}(Arch{}, p, x.data(), y.data(), scratch.data());
    ASSERT_TRUE(y.guards_intact());
    kernels::ref::PoolGeometry g;
    g.in = {1, H, 20};
    g.out = {1, H, 20};
    g.kernel = {1, 3, 3};
    g.pad_begin = {0, 1, 1};
    g.pad_end = {0, 1, 1};
    std::vector<float> want(static_cast<size_t>(H * 20));
    kernels::ref::max_pool(x.data(), want.data(), nullptr, g, 0, 0, 1);
    for (int64_t i = 0; i < H * 20; ++i) {
      EXPECT_FALSE(std::isnan(y[i])) << "H " << H << " i " << i;
      EXPECT_EQ(y[i], want[i]) << "H " << H << " i " << i;
    }
    EXPECT_EQ(y[H * 20 - 1], std::numeric_limits<float>::lowest());
  }
}

}  // namespace
}  // namespace kiln::simd
