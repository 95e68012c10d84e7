// The packed SGEMM on every compiled arch the CPU runs, against the reference
// GEMM plus the epilogue computed in double: sizes on both sides of every
// register tile and cache block edge, transposes, leading dimensions larger
// than the rows, prepacked and on-the-fly operands, every epilogue kind, and
// guard cells around C that must stay untouched. Also: computing C in
// pieces (as the threaded driver does) gives bit-identical results. The
// transposed convolution form (A' = im2col(X)ᵀ, C and the residual stored
// transposed) over ragged position counts (1 … 196), channel counts around
// the vector and tile widths and K around the K block, and the driver's
// 1- and 2-thread runs of it, bit for bit.
#include <gtest/gtest.h>

#include <cmath>
#include <optional>
#include <random>
#include <vector>

#include <tbb/task_arena.h>

#include "kernels/reference/gemm.h"
#include "kernels/simd/gemm.h"
#include "kernels/simd/gemm_driver.h"
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

// A 2-D convolution geometry for A' = im2col(X)ᵀ (M = OH·OW, K = C·kh·kw).
struct ConvGeo {
  int64_t C, H, W, kh, kw, sh = 1, sw = 1, dh = 1, dw = 1, ph = 0, pw = 0;
  int64_t OH() const { return (H + 2 * ph - (kh - 1) * dh - 1) / sh + 1; }
  int64_t OW() const { return (W + 2 * pw - (kw - 1) * dw - 1) / sw + 1; }
  Im2col2d of(const float* x) const { return Im2col2d{x, C, H, W, OH(), OW(), kh, kw, sh, sw, dh, dw, ph, pw}; }
};

struct Case {
  int64_t M, N, K;
  bool ta = false, tb = false, pack_a = false, pack_b = false;
  bool row_bias = false, col_bias = false, residual = false, accumulate = false;
  float alpha = 1.f;
  GemmActivation act = GemmActivation::None;
  float act_alpha = 0.f, act_beta = 0.f;
  bool trans_c = false;
  std::optional<ConvGeo> conv;    // A' = im2col(X)ᵀ (M and K must match it)
  std::optional<ConvGeo> conv_b;  // B' = im2col(X) (K and N must match it)
  bool map_b = false, map_relu = false;  // SgemmProblem's b_scale / b_shift / b_relu
};

std::string describe(const Case& c) {
  return "M=" + std::to_string(c.M) + " N=" + std::to_string(c.N) + " K=" + std::to_string(c.K) +
         " ta=" + std::to_string(c.ta) + " tb=" + std::to_string(c.tb) + " pa=" + std::to_string(c.pack_a) +
         " pb=" + std::to_string(c.pack_b) + " act=" + std::to_string(static_cast<int>(c.act)) +
         " rb=" + std::to_string(c.row_bias) + " cb=" + std::to_string(c.col_bias) +
         " res=" + std::to_string(c.residual) + " acc=" + std::to_string(c.accumulate) +
         " tc=" + std::to_string(c.trans_c) + " im2col=" + std::to_string(c.conv.has_value()) +
         " im2col_b=" + std::to_string(c.conv_b.has_value()) + " map_b=" + std::to_string(c.map_b) +
         " map_relu=" + std::to_string(c.map_relu);
}

// im2col(X)ᵀ as a dense M × K matrix (the definition in gemm.h).
std::vector<float> im2col_t(const ConvGeo& g, const std::vector<float>& x) {
  const int64_t OH = g.OH(), OW = g.OW(), K = g.C * g.kh * g.kw;
  std::vector<float> a(static_cast<size_t>(OH * OW * K), 0.f);
  for (int64_t oh = 0; oh < OH; ++oh)
    for (int64_t ow = 0; ow < OW; ++ow)
      for (int64_t c = 0; c < g.C; ++c)
        for (int64_t r = 0; r < g.kh; ++r)
          for (int64_t s = 0; s < g.kw; ++s) {
            const int64_t ih = oh * g.sh - g.ph + r * g.dh, iw = ow * g.sw - g.pw + s * g.dw;
            if (ih >= 0 && ih < g.H && iw >= 0 && iw < g.W)
              a[(oh * OW + ow) * K + (c * g.kh + r) * g.kw + s] = x[(c * g.H + ih) * g.W + iw];
          }
  return a;
}

template <class Arch>
void check_case(const Case& c, uint32_t seed) {
  const GemmBlocking bl = sgemm_blocking{}(Arch{});
  const int64_t M = c.M, N = c.N, K = c.K;
  // Stored shapes with padded leading dimensions (ld > cols).
  int64_t a_rows = c.ta ? K : M, a_cols = c.ta ? M : K, lda = a_cols + 3;
  const int64_t b_rows = c.tb ? N : K, b_cols = c.tb ? K : N, ldb = b_cols + 2;
  // C as stored: M × N, or N × M with trans_c (the residual likewise).
  const int64_t c_rows = c.trans_c ? N : M, c_cols = c.trans_c ? M : N;
  const int64_t ldc = c_cols + 5, ldr = c_cols + 1, guard_rows = 2;
  auto at = [&](int64_t m, int64_t n, int64_t ld) { return c.trans_c ? n * ld + m : m * ld + n; };
  std::vector<float> A = random_vec(static_cast<size_t>(std::max<int64_t>(a_rows * lda, 1)), seed);
  std::vector<float> X;
  if (c.conv) {  // A' = im2col(X)ᵀ, also materialised (row stride K) for the reference
    const ConvGeo& g = *c.conv;
    EXPECT_EQ(M, g.OH() * g.OW());
    EXPECT_EQ(K, g.C * g.kh * g.kw);
    X = random_vec(static_cast<size_t>(g.C * g.H * g.W), seed + 6);
    A = im2col_t(g, X);
    if (A.empty()) A.push_back(0.f);
    a_rows = M;
    a_cols = lda = K;
  }
  std::vector<float> Bm = random_vec(static_cast<size_t>(std::max<int64_t>(b_rows * ldb, 1)), seed + 1);
  std::vector<float> XB;
  int64_t ldb_used = ldb;
  if (c.conv_b) {  // B' = im2col(X), materialised (row stride N) for the reference
    const ConvGeo& g = *c.conv_b;
    EXPECT_EQ(N, g.OH() * g.OW());
    EXPECT_EQ(K, g.C * g.kh * g.kw);
    EXPECT_FALSE(c.tb || c.pack_b);
    XB = random_vec(static_cast<size_t>(g.C * g.H * g.W), seed + 7);
    const std::vector<float> t = im2col_t(g, XB);
    Bm.assign(static_cast<size_t>(std::max<int64_t>(K * N, 1)), 0.f);
    for (int64_t n = 0; n < N; ++n)
      for (int64_t k = 0; k < K; ++k) Bm[k * N + n] = t[n * K + k];
    ldb_used = N;
  }
  std::vector<float> rb = random_vec(M, seed + 2), cb = random_vec(N, seed + 3);
  std::vector<float> res = random_vec(c_rows * ldr, seed + 4), c0 = random_vec(c_rows * ldc, seed + 5);

  // C with guard rows above and below and guard columns past the stored
  // columns in every row.
  std::vector<float> Cbuf((c_rows + 2 * guard_rows) * ldc, kGuard);
  float* C = Cbuf.data() + guard_rows * ldc;
  if (c.accumulate)
    for (int64_t m = 0; m < M; ++m)
      for (int64_t n = 0; n < N; ++n) C[at(m, n, ldc)] = c0[at(m, n, ldc)];

  std::vector<float> pa, pb;
  SgemmProblem p;
  p.M = M;
  p.N = N;
  p.K = K;
  p.a = A.data();
  p.lda = lda;
  p.trans_a = c.conv ? false : c.ta;
  Im2col2d col, colb;
  if (c.conv) {
    col = c.conv->of(X.data());
    p.a = nullptr;
    p.a_im2col = &col;
  }
  p.b = Bm.data();
  p.ldb = ldb_used;
  p.trans_b = c.tb;
  if (c.conv_b) {
    colb = c.conv_b->of(XB.data());
    p.b = nullptr;
    p.im2col = &colb;
  }
  if (c.pack_a) {
    pa.assign((M + bl.mr - 1) / bl.mr * bl.mr * std::max<int64_t>(K, 1) + 64, kGuard);
    float* aligned = reinterpret_cast<float*>((reinterpret_cast<uintptr_t>(pa.data()) + 63) & ~uintptr_t{63});
    if (c.conv) sgemm_pack_a_blocks{}(Arch{}, p, 0, (K + bl.kc - 1) / bl.kc, aligned);
    else sgemm_pack_a{}(Arch{}, A.data(), lda, c.ta, M, K, aligned);
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
  p.trans_c = c.trans_c;
  p.ep.alpha = c.alpha;
  p.ep.accumulate = c.accumulate;
  p.ep.row_bias = c.row_bias ? rb.data() : nullptr;
  p.ep.col_bias = c.col_bias ? cb.data() : nullptr;
  p.ep.residual = c.residual ? res.data() : nullptr;
  p.ep.ld_residual = ldr;
  p.ep.act = c.act;
  p.ep.act_alpha = c.act_alpha;
  p.ep.act_beta = c.act_beta;
  // B as the product reads it: act(fma(B[k, n], s[k], t[k])) with a map.
  std::vector<float> bscale = random_vec(static_cast<size_t>(std::max<int64_t>(K, 1)), seed + 8);
  std::vector<float> bshift = random_vec(static_cast<size_t>(std::max<int64_t>(K, 1)), seed + 9);
  if (c.map_b) {
    EXPECT_FALSE(c.tb || c.pack_b || c.conv_b);
    p.b_scale = bscale.data();
    p.b_shift = bshift.data();
    p.b_relu = c.map_relu;
  }
  std::vector<float> ws(bl.workspace_floats);
  sgemm_compute{}(Arch{}, p, 0, M, 0, N, ws.data());
  if (c.map_b)  // the reference reads B mapped
    for (int64_t k = 0; k < K; ++k)
      for (int64_t n = 0; n < N; ++n) {
        float& v = Bm[k * ldb_used + n];
        v = std::fma(v, bscale[k], bshift[k]);
        if (c.map_relu && v < 0.f) v = 0.f;
      }

  // Reference: the product and the product of absolute values (error scale).
  std::vector<float> ref(std::max<int64_t>(M * N, 1)), mag(std::max<int64_t>(M * N, 1));
  std::vector<float> absA(A.size()), absB(Bm.size());
  for (size_t i = 0; i < A.size(); ++i) absA[i] = std::fabs(A[i]);
  for (size_t i = 0; i < Bm.size(); ++i) absB[i] = std::fabs(Bm[i]);
  const bool ta = c.conv ? false : c.ta;
  kernels::ref::gemm_f32(ta, c.tb, M, N, K, 1.f, A.data(), lda, Bm.data(), ldb_used, 0.f, ref.data(), N);
  kernels::ref::gemm_f32(ta, c.tb, M, N, K, 1.f, absA.data(), lda, absB.data(), ldb_used, 0.f, mag.data(), N);
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
      if (c.accumulate) add(c0[at(m, n, ldc)]);
      if (c.row_bias) add(rb[m]);
      if (c.col_bias) add(cb[n]);
      if (c.residual) add(res[at(m, n, ldr)]);
      // Float accumulation error of a K-term sum plus the epilogue's roundings,
      // then at most a slope-2 activation and a few ulps of exp/tanh.
      const double pre_tol = eps * ((K + 2) * std::fabs(c.alpha) * mag[m * N + n] + 8 * (extra + std::fabs(v)));
      const double want = e.apply(v);
      const double tol = 2 * pre_tol + 8 * eps * std::fabs(want) + 1e-7;
      ASSERT_NEAR(C[at(m, n, ldc)], want, tol) << describe(c) << " at (" << m << ", " << n << ")";
    }
  }
  // Guards: rows above/below, columns past the stored ones, untouched.
  for (int64_t r = 0; r < c_rows + 2 * guard_rows; ++r)
    for (int64_t n = 0; n < ldc; ++n) {
      const bool inside = r >= guard_rows && r < guard_rows + c_rows && n < c_cols;
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

// A map of B's rows (b_scale, b_shift, b_relu): whole and partial panels,
// one and several K blocks, M on both sides of the in-place B rule (which a
// map turns off), past the nc block, with an epilogue.
template <class Arch>
void check_b_map() {
  if (!arch_available<Arch>()) GTEST_SKIP() << Arch::name() << " not available on this CPU";
  const GemmBlocking bl = sgemm_blocking{}(Arch{});
  const int64_t mr = bl.mr, nr = bl.nr, kc = bl.kc;
  uint32_t seed = 300;
  for (int64_t M : {int64_t{1}, mr + 1, int64_t{64}, int64_t{65}, 2 * mr + 3})
    for (int64_t N : {int64_t{1}, nr - 1, nr, 2 * nr + 5, bl.nc + nr + 7})
      for (int64_t K : {int64_t{1}, int64_t{17}, kc + 3, 2 * kc + 1})
        for (int relu = 0; relu < 2; ++relu) {
          Case c{M, N, K};
          c.map_b = true;
          c.map_relu = relu;
          c.pack_a = (M + N) % 2 == 0;
          c.row_bias = relu;
          c.residual = (N + K) % 2 == 0;
          c.act = relu ? GemmActivation::Relu : GemmActivation::None;
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

// The transposed convolution form: C (and the residual) stored transposed,
// A' = im2col(X)ᵀ packed on the fly or prepacked block by block, or A' = Xᵀ
// (a 1×1 conv: trans_a), B' = Wᵀ prepacked or not. Positions (M) hit every
// row-tile edge (1, 2, 4, MR and past them), channels (N) every vector and
// panel edge, K both sides of the K block.
template <class Arch>
void check_transposed() {
  if (!arch_available<Arch>()) GTEST_SKIP() << Arch::name() << " not available on this CPU";
  const GemmBlocking bl = sgemm_blocking{}(Arch{});
  const int64_t w = bl.width, nr = bl.nr;
  // (H, W) with a 3×3, pad 1, stride 1 conv: OH·OW = 1, 7, 15, 16, 17, 47, 48, 49, 95, 196.
  const std::vector<std::pair<int64_t, int64_t>> maps{{1, 1},  {1, 7},  {3, 5}, {4, 4},  {1, 17},
                                                      {1, 47}, {6, 8},  {7, 7}, {5, 19}, {14, 14}};
  const std::vector<int64_t> Ns{1, w - 1, w, w + 1, 8, 2 * w, nr - 1, nr, nr + 1, nr + w, 2 * nr + 8};
  const std::vector<int64_t> Cs{1, 3, 28, 29};  // K = 9, 27, 252, 261
  uint32_t seed = 500;
  int variant = 0;
  for (auto [H, W] : maps)
    for (int64_t N : Ns)
      for (int64_t C : Cs) {
        const int v = variant++;
        // Padded (A' packed from X) or the same output from an unpadded input (read in place).
        ConvGeo g = v % 2 ? ConvGeo{C, H, W, 3, 3, 1, 1, 1, 1, 1, 1} : ConvGeo{C, H + 2, W + 2, 3, 3};
        Case c{H * W, N, 9 * C};
        c.conv = g;
        c.trans_c = true;
        c.tb = v % 2;
        c.pack_a = v % 3 == 0;
        c.pack_b = v % 4 < 2;
        c.col_bias = v % 5 != 0;
        c.row_bias = v % 7 == 0;
        c.residual = v % 3 == 1;
        c.accumulate = v % 11 == 3;
        c.act = v % 4 == 0 ? GemmActivation::Relu : v % 4 == 2 ? GemmActivation::SiLU : GemmActivation::None;
        check_case<Arch>(c, seed++);
        if (::testing::Test::HasFatalFailure()) return;
      }
  // Strided, dilated, 1×3 kernels, padded and not; 1×1 with K on both sides
  // of the block; M past the row block (mc).
  const std::vector<ConvGeo> geos{{5, 9, 9, 3, 3, 2, 2, 1, 1, 1, 1},   {4, 11, 10, 3, 3, 1, 1, 2, 2, 2, 1},
                                  {7, 6, 13, 1, 3, 1, 2, 1, 1, 0, 1},  {256, 7, 7, 1, 1},
                                  {257, 7, 7, 1, 1},                   {3, 20, 20, 3, 3, 1, 1, 1, 1, 1, 1},
                                  {2 * bl.kc / 9 + 1, 4, 4, 3, 3, 1, 1, 1, 1, 1, 1},
                                  {4, 15, 15, 3, 3, 2, 2},             {5, 11, 11, 3, 3, 1, 1, 2, 2},
                                  {3, 7, 12, 1, 3, 1, 2, 1, 2},        {2 * bl.kc / 9 + 1, 6, 6, 3, 3}};
  for (const ConvGeo& g : geos)
    for (int64_t N : {nr - w, nr + 2 * w}) {
      const int v = variant++;
      Case c{g.OH() * g.OW(), N, g.C * g.kh * g.kw};
      c.conv = g;
      c.trans_c = true;
      c.pack_a = v % 2;
      c.pack_b = true;
      c.col_bias = c.residual = true;
      c.act = GemmActivation::Relu;
      check_case<Arch>(c, seed++);
      if (::testing::Test::HasFatalFailure()) return;
    }
  // B' = im2col(X) (the convolution as written, positions along the lanes):
  // stride 2 over maps wide enough for whole vectors of even-lane loads,
  // with left padding, dilation, a 1×1 and rows ending inside a vector.
  const std::vector<ConvGeo> geos_b{{3, 45, 45, 3, 3, 2, 2, 1, 1, 1, 1}, {4, 40, 40, 1, 1, 2, 2},
                                    {2, 41, 41, 3, 3, 2, 2, 2, 2, 2, 2}, {3, 9, 70, 1, 3, 1, 2, 1, 1, 0, 1},
                                    {2, 30, 30, 3, 3, 1, 1, 1, 1, 1, 1}};
  for (const ConvGeo& g : geos_b)
    for (int64_t M : {int64_t{1}, bl.mr + 3}) {
      const int v = variant++;
      Case c{M, g.OH() * g.OW(), g.C * g.kh * g.kw};
      c.conv_b = g;
      c.pack_a = v % 2;
      c.row_bias = c.residual = true;
      c.act = GemmActivation::Relu;
      check_case<Arch>(c, seed++);
      if (::testing::Test::HasFatalFailure()) return;
    }
  // A' = Xᵀ of a 1×1 conv (trans_a), every activation on one size.
  for (GemmActivation a : {GemmActivation::None, GemmActivation::Relu, GemmActivation::Clip,
                           GemmActivation::LeakyRelu, GemmActivation::Sigmoid, GemmActivation::HardSigmoid,
                           GemmActivation::HardSwish, GemmActivation::Tanh, GemmActivation::SiLU})
    for (int64_t K : {bl.kc - 1, bl.kc + 3}) {
      Case c{49, nr + w + 3, K};
      c.ta = true;
      c.trans_c = true;
      c.pack_b = true;
      c.col_bias = c.residual = true;
      c.act = a;
      c.act_alpha = a == GemmActivation::HardSigmoid ? 0.2f : -0.5f;
      c.act_beta = a == GemmActivation::HardSigmoid ? 0.5f : 0.75f;
      if (a == GemmActivation::LeakyRelu) c.act_alpha = 0.1f;
      check_case<Arch>(c, seed++);
      if (::testing::Test::HasFatalFailure()) return;
    }
}

// The transposed form computed as column ranges starting at any vector
// boundary of a prepacked B' (as the driver splits output channels), on a
// shared prepacked A', and as row ranges, equals the whole, bit for bit.
template <class Arch>
void check_transposed_split_invariance() {
  if (!arch_available<Arch>()) GTEST_SKIP() << Arch::name() << " not available on this CPU";
  const GemmBlocking bl = sgemm_blocking{}(Arch{});
  const ConvGeo g{60, 7, 7, 3, 3, 1, 1, 1, 1, 1, 1};  // M = 49, K = 540: three K blocks
  const int64_t M = 49, K = 540, N = 3 * bl.nr + bl.width + 5, Mp = (M + bl.mr - 1) / bl.mr * bl.mr;
  const int64_t Np = (N + bl.nr - 1) / bl.nr * bl.nr;
  std::vector<float> X = random_vec(g.C * g.H * g.W, 11), Wt = random_vec(N * K, 12), cb = random_vec(N, 13);
  std::vector<float> res = random_vec(N * M, 14);
  Im2col2d col{X.data(), g.C, g.H, g.W, 7, 7, 3, 3, 1, 1, 1, 1, 1, 1};
  std::vector<float> pb(Np * K + 16), pa(Mp * K + 16);
  float* pbp = reinterpret_cast<float*>((reinterpret_cast<uintptr_t>(pb.data()) + 63) & ~uintptr_t{63});
  float* pap = reinterpret_cast<float*>((reinterpret_cast<uintptr_t>(pa.data()) + 63) & ~uintptr_t{63});
  sgemm_pack_b{}(Arch{}, Wt.data(), K, true, K, N, pbp);
  SgemmProblem p;
  p.M = M;
  p.N = N;
  p.K = K;
  p.a_im2col = &col;
  p.packed_b = pbp;
  p.ldc = M;
  p.trans_c = true;
  p.ep.col_bias = cb.data();
  p.ep.residual = res.data();
  p.ep.ld_residual = M;
  p.ep.act = GemmActivation::SiLU;
  std::vector<float> ws(bl.workspace_floats + 16), whole(N * M), part(N * M);
  p.c = whole.data();
  sgemm_compute{}(Arch{}, p, 0, M, 0, N, ws.data());
  sgemm_pack_a_blocks{}(Arch{}, p, 0, 1, pap);  // block by block, as threads would
  sgemm_pack_a_blocks{}(Arch{}, p, 1, 3, pap);
  for (int64_t split = bl.width; split < N; split += bl.width) {
    SgemmProblem q = p;
    q.packed_a = (split / bl.width) % 2 ? nullptr : pap;
    q.c = part.data();
    std::fill(part.begin(), part.end(), 0.f);
    sgemm_compute{}(Arch{}, q, 0, M, 0, split, ws.data());
    sgemm_compute{}(Arch{}, q, 0, M, split, N, ws.data());
    for (int64_t i = 0; i < N * M; ++i) ASSERT_EQ(whole[i], part[i]) << "column split " << split << " at " << i;
  }
  std::fill(part.begin(), part.end(), 0.f);
  p.c = part.data();
  sgemm_compute{}(Arch{}, p, 0, 2 * bl.mr, 0, N, ws.data());
  sgemm_compute{}(Arch{}, p, 2 * bl.mr, M, 0, N, ws.data());
  for (int64_t i = 0; i < N * M; ++i) ASSERT_EQ(whole[i], part[i]) << "row split at " << i;
}

#if defined(__x86_64__)
TEST(SimdGemm, TransposedAvx512f) { check_transposed<xsimd::avx512f>(); }
TEST(SimdGemm, TransposedFma3Avx2) { check_transposed<xsimd::fma3<xsimd::avx2>>(); }
TEST(SimdGemm, TransposedSse2) { check_transposed<xsimd::sse2>(); }
TEST(SimdGemm, TransposedSplitInvarianceAvx512f) { check_transposed_split_invariance<xsimd::avx512f>(); }
TEST(SimdGemm, TransposedSplitInvarianceFma3Avx2) { check_transposed_split_invariance<xsimd::fma3<xsimd::avx2>>(); }
TEST(SimdGemm, TransposedSplitInvarianceSse2) { check_transposed_split_invariance<xsimd::sse2>(); }
#elif defined(__aarch64__)
TEST(SimdGemm, TransposedNeon64) { check_transposed<xsimd::neon64>(); }
TEST(SimdGemm, TransposedSplitInvarianceNeon64) { check_transposed_split_invariance<xsimd::neon64>(); }
#endif

// The threaded driver (best arch) on 1 and 2 threads gives the same bits,
// direct and transposed, im2col and 1×1, with the shared A' packing and the
// vector-granular column split (and the row split for few channels).
TEST(SgemmDriver, ThreadCountIndependent) {
  struct Shape {
    int64_t cin, cout, hw, k;
  };
  for (const Shape& sh : {Shape{64, 512, 7, 3}, Shape{96, 160, 7, 1}, Shape{64, 64, 14, 3}, Shape{128, 32, 14, 3},
                          Shape{40, 100, 14, 1}, Shape{32, 96, 9, 3}})
    for (int tr = 0; tr < 3; ++tr) {  // direct; transposed, A' = im2col(X)ᵀ; transposed, A' = Xᵀ (1×1, packed once)
      if (tr == 2 && sh.k != 1) continue;
      const int64_t P = sh.hw * sh.hw, K = sh.cin * sh.k * sh.k, pad = sh.k / 2;
      std::vector<float> x = random_vec(sh.cin * P, 21), w = random_vec(sh.cout * K, 22), b = random_vec(sh.cout, 23);
      std::vector<float> z = random_vec(sh.cout * P, 24);
      AlignedFloats packed = tr ? pack_gemm_b(w.data(), K, true, K, sh.cout) : pack_gemm_a(w.data(), K, false, sh.cout, K);
      Im2col2d col{x.data(), sh.cin, sh.hw, sh.hw, sh.hw, sh.hw, sh.k, sh.k, 1, 1, 1, 1, pad, pad};
      SgemmProblem p;
      p.K = K;
      p.ldc = P;
      p.ep.residual = z.data();
      p.ep.ld_residual = P;
      p.ep.act = GemmActivation::Relu;
      if (tr) {
        p.M = P;
        p.N = sh.cout;
        p.packed_b = packed.data();
        p.trans_c = true;
        p.ep.col_bias = b.data();
        if (tr == 2) {
          p.a = x.data();
          p.lda = P;
          p.trans_a = true;
        } else {
          p.a_im2col = &col;
        }
      } else {
        p.M = sh.cout;
        p.N = P;
        p.packed_a = packed.data();
        p.ep.row_bias = b.data();
        if (sh.k == 1) {
          p.b = x.data();
          p.ldb = P;
        } else {
          p.im2col = &col;
        }
      }
      std::vector<float> y1(sh.cout * P), y2(sh.cout * P, 7.f);
      p.c = y1.data();
      tbb::task_arena(1).execute([&] { sgemm(p); });
      p.c = y2.data();
      tbb::task_arena(2).execute([&] { sgemm(p); });
      for (size_t i = 0; i < y1.size(); ++i)
        ASSERT_EQ(y1[i], y2[i]) << "cin " << sh.cin << " cout " << sh.cout << " hw " << sh.hw << " k " << sh.k
                                << " transposed " << tr << " at " << i;
    }
}

#if defined(__x86_64__)
TEST(SimdGemm, SizesAvx512f) { check_sizes<xsimd::avx512f>(); }
TEST(SimdGemm, SizesFma3Avx2) { check_sizes<xsimd::fma3<xsimd::avx2>>(); }
TEST(SimdGemm, SizesSse2) { check_sizes<xsimd::sse2>(); }
TEST(SimdGemm, EpiloguesAvx512f) { check_epilogues<xsimd::avx512f>(); }
TEST(SimdGemm, EpiloguesFma3Avx2) { check_epilogues<xsimd::fma3<xsimd::avx2>>(); }
TEST(SimdGemm, EpiloguesSse2) { check_epilogues<xsimd::sse2>(); }
TEST(SimdGemm, BMapAvx512f) { check_b_map<xsimd::avx512f>(); }
TEST(SimdGemm, BMapFma3Avx2) { check_b_map<xsimd::fma3<xsimd::avx2>>(); }
TEST(SimdGemm, BMapSse2) { check_b_map<xsimd::sse2>(); }
TEST(SimdGemm, SplitInvarianceAvx512f) { check_split_invariance<xsimd::avx512f>(); }
TEST(SimdGemm, SplitInvarianceFma3Avx2) { check_split_invariance<xsimd::fma3<xsimd::avx2>>(); }
TEST(SimdGemm, SplitInvarianceSse2) { check_split_invariance<xsimd::sse2>(); }
#elif defined(__aarch64__)
TEST(SimdGemm, SizesNeon64) { check_sizes<xsimd::neon64>(); }
TEST(SimdGemm, EpiloguesNeon64) { check_epilogues<xsimd::neon64>(); }
TEST(SimdGemm, BMapNeon64) { check_b_map<xsimd::neon64>(); }
TEST(SimdGemm, SplitInvarianceNeon64) { check_split_invariance<xsimd::neon64>(); }
#endif

}  // namespace
}  // namespace kiln::simd
