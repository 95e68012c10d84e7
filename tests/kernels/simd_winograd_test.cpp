// The Winograd F(4×4, 3×3) input and output transforms on every compiled arch
// the CPU runs, against the scalar transforms in double
// (kernels/reference/winograd.h), over maps of 1 … 56 (tile rows shorter and
// longer than a vector, so that vectors span several tile rows), partial edge
// tiles, pads 0/1/2/asymmetric, tile ranges that start and end mid-row,
// columns that start off a vector boundary, the packed-B panel layout and a
// plain row; guard regions around every buffer, and the input kernel's
// untouched columns checked float by float.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "kernels/reference/winograd.h"
#include "kernels/simd/winograd.h"
#include "simd_test_util.h"

namespace kiln::simd {
namespace {

using testing_util::Guarded;
using testing_util::ramp;

template <class Arch>
class SimdWinograd : public ::testing::Test {};
TYPED_TEST_SUITE(SimdWinograd, testing_util::Archs, testing_util::ArchNames);

struct PlaneCase {
  int64_t H, W, pt, pb, pl, pr;
};
// Output maps of 1 … 9, 13, 14, 28, 56 and odd sizes (tile rows of 1 … 17
// tiles: shorter and longer than 4, 8 and 16 lanes, so that vectors span one
// to eight tile rows), partial edge tiles, pads 0, 1, 2 and asymmetric.
const PlaneCase kPlanes[] = {
    {3, 3, 0, 0, 0, 0},    {1, 1, 1, 1, 1, 1},  {2, 2, 1, 1, 1, 1},  {3, 3, 1, 1, 1, 1},    {4, 5, 1, 1, 1, 1},
    {5, 5, 1, 1, 1, 1},    {6, 6, 1, 1, 1, 1},  {7, 7, 1, 1, 1, 1},  {8, 8, 1, 1, 1, 1},    {9, 9, 1, 1, 1, 1},
    {7, 9, 1, 1, 1, 1},    {13, 13, 1, 1, 1, 1}, {14, 14, 1, 1, 1, 1}, {28, 28, 1, 1, 1, 1}, {13, 10, 0, 2, 2, 0},
    {6, 41, 1, 0, 0, 1},   {17, 17, 1, 1, 1, 1}, {9, 30, 2, 1, 0, 2}, {7, 7, 2, 2, 2, 2},    {56, 56, 1, 1, 1, 1},
    {5, 66, 1, 1, 1, 1},   {11, 3, 0, 0, 2, 2}};

WinogradPlane plane_of(const PlaneCase& c) {
  return winograd_plane(c.H, c.W, c.H + c.pt + c.pb - 2, c.W + c.pl + c.pr - 2, c.pt, c.pl);
}

std::string name_of(const PlaneCase& c) {
  return std::to_string(c.H) + "x" + std::to_string(c.W) + " pads " + std::to_string(c.pt) + "," +
         std::to_string(c.pb) + "," + std::to_string(c.pl) + "," + std::to_string(c.pr);
}

// The 6×6 input tile t of plane x (0 outside).
void tile_of(const WinogradPlane& p, const float* x, int64_t t, float d[36]) {
  const int64_t th = t / p.TW, tw = t % p.TW;
  for (int r = 0; r < 6; ++r)
    for (int c = 0; c < 6; ++c) {
      const int64_t ih = 4 * th + r - p.pad_top, iw = 4 * tw + c - p.pad_left;
      d[6 * r + c] = ih >= 0 && ih < p.H && iw >= 0 && iw < p.W ? x[ih * p.W + iw] : 0.f;
    }
}

// Column layouts the input kernel writes: the SGEMM's packed-B panels (nr =
// 48 as on AVX-512, 16 as on AVX2, with kb = 5 rows per panel) and a plain row.
struct Layout {
  int64_t nr, kb;
};
const Layout kLayouts[] = {{48, 5}, {16, 3}, {1 << 20, 1}};

TYPED_TEST(SimdWinograd, InputTransformMatchesReference) {
  using Arch = TypeParam;
  KILN_SKIP_UNLESS_ARCH(Arch);
  uint32_t seed = 1;
  for (const PlaneCase& c : kPlanes) {
    const WinogradPlane p = plane_of(c);
    const int64_t T = p.TH * p.TW;
    const std::vector<float> x = ramp(p.H * p.W, -1.f, 1.f, ++seed);
    // Whole plane, a range starting and ending mid-row, one tile, the last tile.
    const std::pair<int64_t, int64_t> ranges[] = {{0, T}, {T / 3, std::max(T / 3 + 1, T - T / 4)}, {T / 2, T / 2 + 1},
                                                  {T - 1, T}};
    for (const Layout& lay : kLayouts)
      for (auto [t0, t1] : ranges)
        for (int64_t n0 : {0, 5, 17}) {  // first column: vector-aligned or not
          const int64_t n = t1 - t0, cols_used = n0 + n;
          const int64_t panels = lay.nr > cols_used ? 1 : (cols_used + lay.nr - 1) / lay.nr;
          const int64_t panel = lay.nr > cols_used ? 0 : lay.nr * lay.kb;
          // Row 1 of a K block of kb rows; V_ξ one after another with a gap.
          const int64_t ld_xi = lay.nr > cols_used ? cols_used + kWinogradSlack + 9 : panels * panel + 7;
          const int64_t row0 = lay.nr > cols_used ? 0 : std::min<int64_t>(1, lay.kb - 1) * lay.nr;
          auto at = [&](int xi, int64_t col) { return row0 + xi * ld_xi + (col / lay.nr) * panel + col % lay.nr; };
          Guarded v(36 * ld_xi), scratch(winograd_input_scratch_floats(p), 0.f);
          winograd_f4x3_input{}(Arch{}, p, x.data(), t0, t1, v.data() + row0, n0,
                                WinogradColumns{lay.nr, panel, ld_xi}, scratch.data());
          const std::string what = name_of(c) + " tiles [" + std::to_string(t0) + ", " + std::to_string(t1) +
                                   ") at column " + std::to_string(n0) + " nr " + std::to_string(lay.nr);
          ASSERT_TRUE(v.guards_intact() && scratch.guards_intact()) << what;
          std::vector<char> mine(static_cast<size_t>(36 * ld_xi), 0);
          for (int64_t t = t0; t < t1; ++t) {
            float d[36];
            double want[36];
            tile_of(p, x.data(), t, d);
            kernels::ref::winograd_f4x3_input_tile(d, want);
            for (int xi = 0; xi < 36; ++xi) {
              const int64_t i = at(xi, n0 + t - t0);
              mine[static_cast<size_t>(i)] = 1;
              ASSERT_NEAR(v[i], want[xi], 1e-5 * (1 + std::fabs(want[xi]))) << what << " t=" << t << " xi=" << xi;
            }
          }
          // Every other float (the columns it does not own, other rows) untouched.
          for (int64_t i = 0; i < 36 * ld_xi; ++i)
            if (!mine[static_cast<size_t>(i)]) ASSERT_EQ(v[i], Guarded::kSentinel) << what << " wrote float " << i;
        }
  }
}

double act_ref(Act k, double v, float alpha, float beta) {
  switch (k) {
    case Act::None: return v;
    case Act::Relu: return v < 0 ? 0 : v;
    case Act::Clip: return std::min<double>(std::max<double>(v, alpha), beta);
    case Act::Sigmoid: return 1 / (1 + std::exp(-v));
    default: ADD_FAILURE() << "not covered here"; return v;
  }
}

TYPED_TEST(SimdWinograd, OutputTransformMatchesReference) {
  using Arch = TypeParam;
  KILN_SKIP_UNLESS_ARCH(Arch);
  uint32_t seed = 100;
  for (const PlaneCase& c : kPlanes)
    for (Act k : {Act::None, Act::Relu, Act::Clip, Act::Sigmoid})
      for (bool residual : {false, true})
        for (bool whole : {true, false}) {
        const WinogradPlane p = plane_of(c);
        const int64_t T = p.TH * p.TW, plane = p.OH * p.OW;
        // The whole plane, or a mid-row start and end where possible.
        const int64_t t0 = !whole && T > 2 ? T / 3 : 0, t1 = !whole && T > 2 ? T - 1 : T;
        const int64_t ld = (t1 - t0) + kWinogradSlack + 1;
        // Lanes past t1 − t0 (read, then ignored) hold NaN: they must not leak.
        std::vector<float> m = ramp(36 * ld, -2.f, 2.f, ++seed);
        for (int xi = 0; xi < 36; ++xi)
          for (int64_t j = t1 - t0; j < ld; ++j) m[xi * ld + j] = NAN;
        const std::vector<float> z = ramp(plane, -1.f, 1.f, ++seed);
        Guarded y(plane);
        ActParams a{k, -0.5f, 0.75f};
        const float bias = 0.375f;
        winograd_f4x3_output{}(Arch{}, p, m.data(), ld, t0, t1, bias, residual ? z.data() : nullptr, a, y.data());
        ASSERT_TRUE(y.guards_intact());
        for (int64_t oh = 0; oh < p.OH; ++oh)
          for (int64_t ow = 0; ow < p.OW; ++ow) {
            const int64_t t = (oh / 4) * p.TW + ow / 4;
            const float got = y[oh * p.OW + ow];
            if (t < t0 || t >= t1) {
              ASSERT_EQ(got, Guarded::kSentinel) << "tile " << t << " outside the range was written";
              continue;
            }
            double mt[36], yt[16];
            for (int xi = 0; xi < 36; ++xi) mt[xi] = m[xi * ld + t - t0];
            kernels::ref::winograd_f4x3_output_tile(mt, yt);
            double want = yt[4 * (oh % 4) + ow % 4] + bias;
            if (residual) want += z[oh * p.OW + ow];
            want = act_ref(k, want, a.alpha, a.beta);
            ASSERT_NEAR(got, want, 2e-5 * (1 + std::fabs(want)))
                << name_of(c) << " tiles [" << t0 << ", " << t1 << ") act " << static_cast<int>(k) << " residual "
                << residual << " at (" << oh << ", " << ow << ")";
          }
      }
}

TEST(SimdWinograd, FilterTransformIsGgGt) {
  // One filter, checked entry by entry: (G g Gᵀ)[i, j] = Σ G[i, a] g[a, b] G[j, b].
  const double G[6][3] = {{0.25, 0, 0},          {-1 / 6., -1 / 6., -1 / 6.}, {-1 / 6., 1 / 6., -1 / 6.},
                          {1 / 24., 1 / 12., 1 / 6.}, {1 / 24., -1 / 12., 1 / 6.}, {0, 0, 1}};
  const std::vector<float> g = ramp(2 * 3 * 9, -1.f, 1.f, 7);  // M = 2, C = 3
  std::vector<float> u(36 * 6);
  kernels::ref::winograd_f4x3_filter(g.data(), 2, 3, u.data());
  for (int o = 0; o < 2; ++o)
    for (int ch = 0; ch < 3; ++ch)
      for (int i = 0; i < 6; ++i)
        for (int j = 0; j < 6; ++j) {
          double s = 0;
          for (int a = 0; a < 3; ++a)
            for (int b = 0; b < 3; ++b) s += G[i][a] * g[(o * 3 + ch) * 9 + 3 * a + b] * G[j][b];
          EXPECT_NEAR(u[((6 * i + j) * 2 + o) * 3 + ch], s, 1e-6);
        }
}

}  // namespace
}  // namespace kiln::simd
