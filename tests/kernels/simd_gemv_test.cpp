// sgemv_compute on every compiled arch the CPU runs, reading the operand as
// that arch's sgemm_pack_a / sgemm_pack_b packed it, against a double
// reference: M = 1 and N = 1, every panel tail (outputs 1 … 2·panel + 1), K
// across the K-block edges, each epilogue term, an output range split at
// every panel boundary equal to the whole (thread independence), and guard
// regions around y.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <memory>

#include "kernels/simd/gemv.h"
#include "kernels/simd_test_util.h"

namespace kiln::simd {
namespace {

using testing_util::Guarded;
using testing_util::ramp;

template <class Arch>
class SimdGemv : public ::testing::Test {};
TYPED_TEST_SUITE(SimdGemv, testing_util::Archs, testing_util::ArchNames);

struct FreeDeleter {
  void operator()(float* p) const { std::free(p); }
};
using Aligned = std::unique_ptr<float[], FreeDeleter>;
Aligned aligned_floats(int64_t n) {
  return Aligned(static_cast<float*>(std::aligned_alloc(64, static_cast<size_t>((n * 4 + 63) / 64 * 64 + 64))));
}

struct Case {
  bool rows;  // N = 1 (outputs along m) or M = 1
  int64_t outputs, K;
  float alpha = 1.f;
  bool accumulate = false, vec_bias = false, one_bias = false, residual = false;
  GemmActivation act = GemmActivation::None;
};

template <class Arch>
void check(const Case& c, uint32_t seed) {
  const GemmBlocking bl = sgemm_blocking{}(Arch{});
  const int64_t O = c.outputs, K = c.K, width = c.rows ? bl.mr : bl.nr;
  // The weight matrix as the GEMM sees it: A' (O × K) or B' (K × O), row-major.
  const std::vector<float> w = ramp(O * K, -1.f, 1.f, seed), x = ramp(K, -1.f, 1.f, seed + 1);
  const std::vector<float> c0 = ramp(O, -1.f, 1.f, seed + 2), vb = ramp(O, -1.f, 1.f, seed + 3),
                           z = ramp(O, -1.f, 1.f, seed + 4);
  const float ob = 0.375f;
  const int64_t padded = (O + width - 1) / width * width;
  Aligned packed = aligned_floats(padded * K);
  if (c.rows) sgemm_pack_a{}(Arch{}, w.data(), K, false, O, K, packed.get());
  else sgemm_pack_b{}(Arch{}, w.data(), O, false, K, O, packed.get());

  GemvProblem p;
  p.M = c.rows ? O : 1;
  p.N = c.rows ? 1 : O;
  p.K = K;
  p.along_m = c.rows;
  p.x = x.data();
  p.packed = packed.get();
  p.bl = bl;
  p.ep.alpha = c.alpha;
  p.ep.accumulate = c.accumulate;
  (c.rows ? p.ep.row_bias : p.ep.col_bias) = c.vec_bias ? vb.data() : nullptr;
  (c.rows ? p.ep.col_bias : p.ep.row_bias) = c.one_bias ? &ob : nullptr;
  p.ep.residual = c.residual ? z.data() : nullptr;
  p.ep.act = c.act;
  p.ep.act_alpha = c.act == GemmActivation::Clip ? -0.25f : 0.1f;
  p.ep.act_beta = c.act == GemmActivation::Clip ? 0.5f : 0.f;

  std::vector<double> want(static_cast<size_t>(O));
  for (int64_t o = 0; o < O; ++o) {
    double s = 0;
    for (int64_t k = 0; k < K; ++k) s += double(c.rows ? w[o * K + k] : w[k * O + o]) * x[k];
    double v = c.alpha * s;
    if (c.accumulate) v += c0[o];
    if (c.vec_bias) v += vb[o];
    if (c.one_bias) v += ob;
    if (c.residual) v += z[o];
    switch (c.act) {
      case GemmActivation::Relu: v = v < 0 ? 0 : v; break;
      case GemmActivation::Clip: v = std::min(std::max(v, -0.25), 0.5); break;
      case GemmActivation::Sigmoid: v = 1 / (1 + std::exp(-v)); break;
      case GemmActivation::LeakyRelu: v = v < 0 ? 0.1 * v : v; break;
      default: break;
    }
    want[o] = v;
  }
  std::vector<float> ws(static_cast<size_t>(gemv_workspace_floats(bl)));
  auto run = [&](Guarded& y, int64_t i0, int64_t i1) {
    p.y = y.data();
    sgemv_compute{}(Arch{}, p, i0, i1, ws.data());
  };
  Guarded whole(O);
  for (int64_t o = 0; o < O; ++o) whole[o] = c0[o];  // C for accumulate
  run(whole, 0, O);
  ASSERT_TRUE(whole.guards_intact()) << "outputs " << O << " K " << K;
  for (int64_t o = 0; o < O; ++o)
    ASSERT_NEAR(whole[o], want[o], 2e-6 * (1 + std::sqrt(double(K)))) << "rows " << c.rows << " outputs " << O
                                                                     << " K " << K << " o " << o;
  // Split into two ranges at each panel boundary: bit-identical to the whole.
  for (int64_t cut = width; cut < O; cut += width) {
    Guarded parts(O);
    for (int64_t o = 0; o < O; ++o) parts[o] = c0[o];
    run(parts, 0, cut);
    run(parts, cut, O);
    ASSERT_TRUE(parts.guards_intact());
    for (int64_t o = 0; o < O; ++o) ASSERT_EQ(parts[o], whole[o]) << "cut " << cut << " o " << o;
  }
}

TYPED_TEST(SimdGemv, EveryTailAndKBlockEdge) {
  using Arch = TypeParam;
  KILN_SKIP_UNLESS_ARCH(Arch);
  const GemmBlocking bl = sgemm_blocking{}(Arch{});
  uint32_t seed = 1;
  for (bool rows : {true, false}) {
    const int64_t width = rows ? bl.mr : bl.nr;
    for (int64_t K : {int64_t{1}, int64_t{2}, int64_t{3}, int64_t{7}, bl.kc - 1, bl.kc, bl.kc + 1, 2 * bl.kc + 5})
      for (int64_t O = 1; O <= 2 * width + 1; O += (K < 8 ? 1 : 3)) check<Arch>(Case{rows, O, K}, seed++);
    // Wider than one chunk of the N = 1 kernel (256 rows).
    check<Arch>(Case{rows, 301, 9}, seed++);
  }
}

TYPED_TEST(SimdGemv, EpilogueTerms) {
  using Arch = TypeParam;
  KILN_SKIP_UNLESS_ARCH(Arch);
  uint32_t seed = 100;
  for (bool rows : {true, false})
    for (int64_t O : {int64_t{5}, int64_t{37}})
      for (GemmActivation act : {GemmActivation::None, GemmActivation::Relu, GemmActivation::Clip,
                                 GemmActivation::Sigmoid, GemmActivation::LeakyRelu}) {
        check<Arch>(Case{rows, O, 70, 0.5f, true, true, true, true, act}, seed++);
        check<Arch>(Case{rows, O, 19, 2.f, false, false, true, false, act}, seed++);
        check<Arch>(Case{rows, O, 33, 1.f, false, true, false, true, act}, seed++);
      }
}

}  // namespace
}  // namespace kiln::simd
