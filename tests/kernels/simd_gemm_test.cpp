// The packed SGEMM on every compiled arch the CPU runs, against the reference
// GEMM plus the epilogue computed in double: sizes on both sides of every
// register tile and cache block edge, transposes, leading dimensions larger
// than the rows, prepacked and on-the-fly operands, every epilogue kind, and
// guard cells around C that must stay untouched. Also: computing C in
// pieces (as the threaded driver does) gives bit-identical results.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "kernels/reference/gemm.h"
#include "kernels/simd/gemm.h"
#include "ops/fused.h"

namespace kiln::simd {
namespace {

constexpr float kGuard = -12345.f;

std::vector<float> random_vec(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(-1.f, 1.f);
  std::vector<float> v(n);
  for (float& x : v) x = d(rng);
  return v;
}

ops::FusedEpilogue::Kind kind_of(GemmActivation a) {
  using K = ops::FusedEpilogue;
  switch (a) {
    case GemmActivation::None: return K::None;
    case GemmActivation::Relu: return K::Relu;
    case GemmActivation::Clip: return K::Clip;
    case GemmActivation::LeakyRelu: return K::LeakyRelu;
    case GemmActivation::Sigmoid: return K::Sigmoid;
    case GemmActivation::HardSigmoid: return K::HardSigmoid;
    case GemmActivation::HardSwish: return K::HardSwish;
    case GemmActivation::Tanh: return K::Tanh;
    case GemmActivation::SiLU: return K::SiLU;
  }
  return K::None;
}

struct Case {
  int64_t M, N, K;
  bool ta = false, tb = false, pack_a = false, pack_b = false;
  bool row_bias = false, col_bias = false, residual = false, accumulate = false;
  float alpha = 1.f;
  GemmActivation act = GemmActivation::None;
  float act_alpha = 0.f, act_beta = 0.f;
};

std::string describe(const Case& c) {
  return "M=" + std::to_string(c.M) + " N=" + std::to_string(c.N) + " K=" + std::to_string(c.K) +
         " ta=" + std::to_string(c.ta) + " tb=" + std::to_string(c.tb) + " pa=" + std::to_string(c.pack_a) +
         " pb=" + std::to_string(c.pack_b) + " act=" + std::to_string(static_cast<int>(c.act)) +
         " rb=" + std::to_string(c.row_bias) + " cb=" + std::to_string(c.col_bias) +
         " res=" + std::to_string(c.residual) + " acc=" + std::to_string(c.accumulate);
}

template <class Arch>
void check_case(const Case& c, uint32_t seed) {
  const GemmBlocking bl = sgemm_blocking{}(Arch{});
  const int64_t M = c.M, N = c.N, K = c.K;
  // Stored shapes with padded leading dimensions (ld > cols).
  const int64_t a_rows = c.ta ? K : M, a_cols = c.ta ? M : K, lda = a_cols + 3;
  const int64_t b_rows = c.tb ? N : K, b_cols = c.tb ? K : N, ldb = b_cols + 2;
  const int64_t ldc = N + 5, ldr = N + 1, guard_rows = 2;
  std::vector<float> A = random_vec(static_cast<size_t>(std::max<int64_t>(a_rows * lda, 1)), seed);
  std::vector<float> Bm = random_vec(static_cast<size_t>(std::max<int64_t>(b_rows * ldb, 1)), seed + 1);
  std::vector<float> rb = random_vec(M, seed + 2), cb = random_vec(N, seed + 3);
  std::vector<float> res = random_vec(M * ldr, seed + 4), c0 = random_vec(M * ldc, seed + 5);

  // C with guard rows above and below and guard columns past N in every row.
  std::vector<float> Cbuf((M + 2 * guard_rows) * ldc, kGuard);
  float* C = Cbuf.data() + guard_rows * ldc;
  if (c.accumulate)
    for (int64_t m = 0; m < M; ++m)
      for (int64_t n = 0; n < N; ++n) C[m * ldc + n] = c0[m * ldc + n];

  std::vector<float> pa, pb;
  SgemmProblem p;
  p.M = M;
  p.N = N;
  p.K = K;
  p.a = A.data();
  p.lda = lda;
  p.trans_a = c.ta;
  p.b = Bm.data();
  p.ldb = ldb;
  p.trans_b = c.tb;
  if (c.pack_a) {
    pa.assign((M + bl.mr - 1) / bl.mr * bl.mr * std::max<int64_t>(K, 1) + 64, kGuard);
    float* aligned = reinterpret_cast<float*>((reinterpret_cast<uintptr_t>(pa.data()) + 63) & ~uintptr_t{63});
    sgemm_pack_a{}(Arch{}, A.data(), lda, c.ta, M, K, aligned);
    p.packed_a = aligned;
  }
  if (c.pack_b) {
    pb.assign((N + bl.nr - 1) / bl.nr * bl.nr * std::max<int64_t>(K, 1) + 64, kGuard);
    float* aligned = reinterpret_cast<float*>((reinterpret_cast<uintptr_t>(pb.data()) + 63) & ~uintptr_t{63});
    sgemm_pack_b{}(Arch{}, Bm.data(), ldb, c.tb, K, N, aligned);
    p.packed_b = aligned;
  }
  p.c = C;
  p.ldc = ldc;
  p.ep.alpha = c.alpha;
  p.ep.accumulate = c.accumulate;
  p.ep.row_bias = c.row_bias ? rb.data() : nullptr;
  p.ep.col_bias = c.col_bias ? cb.data() : nullptr;
  p.ep.residual = c.residual ? res.data() : nullptr;
  p.ep.ld_residual = ldr;
  p.ep.act = c.act;
  p.ep.act_alpha = c.act_alpha;
  p.ep.act_beta = c.act_beta;
  std::vector<float> ws(bl.workspace_floats);
  sgemm_compute{}(Arch{}, p, 0, M, 0, N, ws.data());

  // Reference: the product and the product of absolute values (error scale).
  std::vector<float> ref(std::max<int64_t>(M * N, 1)), mag(std::max<int64_t>(M * N, 1));
  std::vector<float> absA(A.size()), absB(Bm.size());
  for (size_t i = 0; i < A.size(); ++i) absA[i] = std::fabs(A[i]);
  for (size_t i = 0; i < Bm.size(); ++i) absB[i] = std::fabs(Bm[i]);
  kernels::ref::gemm_f32(c.ta, c.tb, M, N, K, 1.f, A.data(), lda, Bm.data(), ldb, 0.f, ref.data(), N);
  kernels::ref::gemm_f32(c.ta, c.tb, M, N, K, 1.f, absA.data(), lda, absB.data(), ldb, 0.f, mag.data(), N);
  ops::FusedEpilogue e;
  e.kind = kind_of(c.act);
  e.alpha = c.act_alpha;
  e.beta = c.act_beta;
  const double eps = std::ldexp(1.0, -24);
  for (int64_t m = 0; m < M; ++m) {
    for (int64_t n = 0; n < N; ++n) {
      double v = static_cast<double>(c.alpha) * ref[m * N + n], extra = 0;
      auto add = [&](double t) {
        v += t;
        extra += std::fabs(t);
      };
      if (c.accumulate) add(c0[m * ldc + n]);
      if (c.row_bias) add(rb[m]);
      if (c.col_bias) add(cb[n]);
      if (c.residual) add(res[m * ldr + n]);
      // Float accumulation error of a K-term sum plus the epilogue's roundings,
      // then at most a slope-2 activation and a few ulps of exp/tanh.
      const double pre_tol = eps * ((K + 2) * std::fabs(c.alpha) * mag[m * N + n] + 8 * (extra + std::fabs(v)));
      const double want = e.apply(v);
      const double tol = 2 * pre_tol + 8 * eps * std::fabs(want) + 1e-7;
      ASSERT_NEAR(C[m * ldc + n], want, tol) << describe(c) << " at (" << m << ", " << n << ")";
    }
  }
  // Guards: rows above/below, columns past N, untouched.
  for (int64_t r = 0; r < M + 2 * guard_rows; ++r)
    for (int64_t n = 0; n < ldc; ++n) {
      const bool inside = r >= guard_rows && r < guard_rows + M && n < N;
      if (!inside) {
        ASSERT_EQ(Cbuf[r * ldc + n], kGuard) << describe(c) << " guard row " << r << " col " << n;
      }
    }
}

template <class Arch>
void check_sizes() {
  if (!arch_available<Arch>()) GTEST_SKIP() << Arch::name() << " not available on this CPU";
  const GemmBlocking bl = sgemm_blocking{}(Arch{});
  const int64_t mr = bl.mr, nr = bl.nr, kc = bl.kc, w = static_cast<int64_t>(Arch::alignment() / sizeof(float));
  // Every edge: 1, around one vector, around the register tile, around two
  // tiles, and (below) past the cache blocks.
  const std::vector<int64_t> Ms{1, 2, mr - 1, mr, mr + 1, 2 * mr + 3};
  const std::vector<int64_t> Ns{1, w - 1, w + 1, nr - 1, nr, nr + 1, 2 * nr + 5};
  const std::vector<int64_t> Ks{0, 1, 3, 17, kc, kc + 1};
  uint32_t seed = 1;
  for (int64_t M : Ms)
    for (int64_t N : Ns)
      for (int64_t K : Ks)
        for (int t = 0; t < 4; ++t) {
          Case c{M, N, K};
          c.ta = t & 1;
          c.tb = t & 2;
          c.pack_a = (M + N + t) % 2 == 0;
          c.pack_b = (M + K + t) % 3 == 0;
          check_case<Arch>(c, seed++);
          if (::testing::Test::HasFatalFailure()) return;
        }
  // Past the mc, nc and kc blocks, prepacked and packed on the fly.
  for (int v = 0; v < 4; ++v) {
    Case c{bl.mc + mr + 3, bl.nc + nr + 7, 2 * kc + 5};
    c.ta = v == 1;
    c.tb = v == 2;
    c.pack_a = v >= 2;
    c.pack_b = v == 3 || v == 1;
    c.row_bias = c.residual = true;
    c.act = GemmActivation::Relu;
    check_case<Arch>(c, seed++);
    if (::testing::Test::HasFatalFailure()) return;
  }
}

template <class Arch>
void check_epilogues() {
  if (!arch_available<Arch>()) GTEST_SKIP() << Arch::name() << " not available on this CPU";
  const GemmBlocking bl = sgemm_blocking{}(Arch{});
  struct Act {
    GemmActivation a;
    float alpha, beta;
  };
  const std::vector<Act> acts{{GemmActivation::None, 0, 0},        {GemmActivation::Relu, 0, 0},
                              {GemmActivation::Clip, -0.5f, 0.75f}, {GemmActivation::LeakyRelu, 0.1f, 0},
                              {GemmActivation::Sigmoid, 0, 0},      {GemmActivation::HardSigmoid, 0.2f, 0.5f},
                              {GemmActivation::HardSwish, 0, 0},    {GemmActivation::Tanh, 0, 0},
                              {GemmActivation::SiLU, 0, 0}};
  uint32_t seed = 100;
  for (const Act& a : acts)
    for (int flags = 0; flags < 32; ++flags) {
      // Full tiles and edge tiles, one and two K blocks.
      Case c{2 * bl.mr + 1, 2 * bl.nr + 3, flags & 16 ? bl.kc + 9 : 9};
      c.row_bias = flags & 1;
      c.col_bias = flags & 2;
      c.residual = flags & 4;
      c.accumulate = flags & 8;
      c.alpha = flags & 1 ? 1.f : -0.75f;
      c.pack_a = flags & 2;
      c.act = a.a;
      c.act_alpha = a.alpha;
      c.act_beta = a.beta;
      check_case<Arch>(c, seed++);
      if (::testing::Test::HasFatalFailure()) return;
    }
}

// C computed as two rectangles (split at a row panel boundary, or at a
// vector boundary inside a column panel) equals C computed whole, bit for
// bit (the threaded driver relies on this).
template <class Arch>
void check_split_invariance() {
  if (!arch_available<Arch>()) GTEST_SKIP() << Arch::name() << " not available on this CPU";
  const GemmBlocking bl = sgemm_blocking{}(Arch{});
  const int64_t M = 3 * bl.mr + 2, N = 3 * bl.nr + 1, K = bl.kc + 33;
  std::vector<float> A = random_vec(M * K, 7), Bm = random_vec(K * N, 8), rb = random_vec(M, 9);
  SgemmProblem p;
  p.M = M;
  p.N = N;
  p.K = K;
  p.a = A.data();
  p.lda = K;
  p.b = Bm.data();
  p.ldb = N;
  p.ldc = N;
  p.ep.row_bias = rb.data();
  p.ep.act = GemmActivation::SiLU;
  std::vector<float> ws(bl.workspace_floats), whole(M * N), byrows(M * N), bycols(M * N);
  p.c = whole.data();
  sgemm_compute{}(Arch{}, p, 0, M, 0, N, ws.data());
  p.c = byrows.data();
  sgemm_compute{}(Arch{}, p, 0, bl.mr, 0, N, ws.data());
  sgemm_compute{}(Arch{}, p, bl.mr, M, 0, N, ws.data());
  p.c = bycols.data();
  // B is packed per call here, so columns may split at any vector boundary.
  sgemm_compute{}(Arch{}, p, 0, M, 0, bl.nr + bl.width, ws.data());
  sgemm_compute{}(Arch{}, p, 0, M, bl.nr + bl.width, N, ws.data());
  for (int64_t i = 0; i < M * N; ++i) {
    ASSERT_EQ(whole[i], byrows[i]) << i;
    ASSERT_EQ(whole[i], bycols[i]) << i;
  }
}

#if defined(__x86_64__)
TEST(SimdGemm, SizesAvx512f) { check_sizes<xsimd::avx512f>(); }
TEST(SimdGemm, SizesFma3Avx2) { check_sizes<xsimd::fma3<xsimd::avx2>>(); }
TEST(SimdGemm, SizesSse2) { check_sizes<xsimd::sse2>(); }
TEST(SimdGemm, EpiloguesAvx512f) { check_epilogues<xsimd::avx512f>(); }
TEST(SimdGemm, EpiloguesFma3Avx2) { check_epilogues<xsimd::fma3<xsimd::avx2>>(); }
TEST(SimdGemm, EpiloguesSse2) { check_epilogues<xsimd::sse2>(); }
TEST(SimdGemm, SplitInvarianceAvx512f) { check_split_invariance<xsimd::avx512f>(); }
TEST(SimdGemm, SplitInvarianceFma3Avx2) { check_split_invariance<xsimd::fma3<xsimd::avx2>>(); }
TEST(SimdGemm, SplitInvarianceSse2) { check_split_invariance<xsimd::sse2>(); }
#elif defined(__aarch64__)
TEST(SimdGemm, SizesNeon64) { check_sizes<xsimd::neon64>(); }
TEST(SimdGemm, EpiloguesNeon64) { check_epilogues<xsimd::neon64>(); }
TEST(SimdGemm, SplitInvarianceNeon64) { check_split_invariance<xsimd::neon64>(); }
#endif

}  // namespace
}  // namespace kiln::simd
