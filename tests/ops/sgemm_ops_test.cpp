// The float32 fast path of Conv, ConvTranspose, Gemm and MatMul (the packed
// SGEMM) against the reference kernels, with weights as initializers (packed
// at session creation) and as graph inputs (packed per run); outputs are
// bit-identical at 1 and 2 threads; fused epilogues applied in the GEMM
// match the unfused graph.
#include <gtest/gtest.h>

#include "kernels/reference/conv.h"
#include "kernels/reference/conv_transpose.h"
#include "kernels/reference/gemm.h"
#include "support/model_builder.h"
#include "support/test_util.h"

namespace kiln::test {
namespace {

std::vector<Tensor> run_with_threads(const ModelBuilder& m, const std::vector<Tensor>& in, int threads,
                                     bool fusion = true) {
  SessionOptions opt;
  opt.threads = threads;
  opt.fusion = fusion;
  return m.session(opt).run(in);
}

struct ConvCase {
  int64_t N, C, M, G;
  std::vector<int64_t> in, k, s, d, pads;  // pads: begins then ends
  bool bias;
};

std::vector<int64_t> cat(std::vector<int64_t> a, const std::vector<int64_t>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

kernels::ref::ConvShape conv_shape(const ConvCase& c, bool transpose, const std::vector<int64_t>& out) {
  kernels::ref::ConvShape s;
  s.batch = c.N;
  s.in_channels = c.C;
  s.out_channels = c.M;
  s.group = c.G;
  s.in_spatial = c.in;
  s.out_spatial = out;
  s.kernel = c.k;
  s.strides = c.s;
  s.dilations = c.d;
  s.pads_begin.assign(c.pads.begin(), c.pads.begin() + static_cast<long>(c.in.size()));
  (void)transpose;
  return s;
}

// One Conv or ConvTranspose: weights constant or fed, both thread counts.
void check_conv(const ConvCase& c, bool transpose, uint32_t seed) {
  const size_t r = c.in.size();
  std::vector<int64_t> out(r);
  for (size_t i = 0; i < r; ++i) {
    const int64_t dk = (c.k[i] - 1) * c.d[i] + 1;
    out[i] = transpose ? c.s[i] * (c.in[i] - 1) + dk - c.pads[i] - c.pads[i + r]
                       : (c.in[i] + c.pads[i] + c.pads[i + r] - dk) / c.s[i] + 1;
  }
  const std::vector<int64_t> wshape =
      transpose ? cat({c.C, c.M / c.G}, c.k) : cat({c.M, c.C / c.G}, c.k);
  const Tensor x = random_f32(cat({c.N, c.C}, c.in), seed), w = random_f32(wshape, seed + 1),
               b = random_f32({c.M}, seed + 2);
  Tensor want(DType::Float32, cat({c.N, c.M}, out));
  const kernels::ref::ConvShape s = conv_shape(c, transpose, out);
  (transpose ? kernels::ref::conv_transpose_f32 : kernels::ref::conv_f32)(
      s, x.data_as<float>(), w.data_as<float>(), c.bias ? b.data_as<float>() : nullptr, want.data_as<float>());

  for (bool constant_w : {true, false}) {
    ModelBuilder m(17);
    m.input("x", DType::Float32, x.shape());
    std::vector<Tensor> feed{x};
    if (constant_w) {
      m.initializer("w", w);
    } else {
      m.input("w", DType::Float32, w.shape());
      feed.push_back(w);
    }
    std::vector<std::string> ins{"x", "w"};
    if (c.bias) {
      m.initializer("b", b);
      ins.push_back("b");
    }
    auto& n = m.node(transpose ? "ConvTranspose" : "Conv", ins, {"y"});
    attr(n, "kernel_shape", c.k);
    attr(n, "strides", c.s);
    attr(n, "dilations", c.d);
    attr(n, "pads", c.pads);
    attr(n, "group", c.G);
    m.output("y");
    const auto y1 = run_with_threads(m, feed, 1), y2 = run_with_threads(m, feed, 2);
    const std::string what = std::string(transpose ? "ConvTranspose" : "Conv") + " seed " + std::to_string(seed) +
                             (constant_w ? " (packed W)" : " (fed W)");
    EXPECT_EQ(compare_tensors(y1[0], y2[0], 0, 0), "") << what << ": 1 vs 2 threads";
    EXPECT_EQ(compare_tensors(y1[0], want, 1e-5, 1e-5), "") << what;
  }
}

TEST(SgemmOps, ConvMatchesReference) {
  const std::vector<ConvCase> cases{
      {1, 16, 24, 1, {9, 11}, {1, 1}, {1, 1}, {1, 1}, {0, 0, 0, 0}, true},        // 1×1: X read directly
      {2, 5, 7, 1, {13, 10}, {3, 3}, {1, 1}, {1, 1}, {1, 1, 1, 1}, true},         // 3×3 pad 1, odd sizes, batch 2
      {1, 3, 17, 1, {23, 23}, {7, 7}, {2, 2}, {1, 1}, {3, 3, 3, 3}, false},       // 7×7 stride 2
      {1, 8, 9, 1, {12, 15}, {3, 2}, {2, 3}, {2, 1}, {2, 0, 1, 3}, true},         // dilation, asymmetric pads
      {1, 30, 70, 1, {8, 8}, {3, 3}, {1, 1}, {1, 1}, {1, 1, 1, 1}, true},         // K = 270 > one K block
      {1, 8, 12, 4, {10, 9}, {3, 3}, {1, 1}, {1, 1}, {1, 1, 1, 1}, true},         // grouped
      {1, 4, 8, 4, {7, 7}, {3, 3}, {1, 1}, {1, 1}, {1, 1, 1, 1}, true},           // group = C, 2 outputs each
      {1, 16, 8, 1, {4, 4}, {1, 1}, {2, 2}, {1, 1}, {0, 0, 0, 0}, false},         // 1×1 stride 2
      {2, 6, 10, 2, {37}, {5}, {2}, {1}, {2, 1}, true},                           // 1-D
      {1, 64, 64, 1, {29, 29}, {3, 3}, {1, 1}, {2, 2}, {2, 2, 2, 2}, true},       // several column panels per thread
                                                                                  // (dilated: not a Winograd shape)
  };
  uint32_t seed = 1;
  for (const ConvCase& c : cases) check_conv(c, false, seed += 3);
}

TEST(SgemmOps, ConvTransposeMatchesReference) {
  const std::vector<ConvCase> cases{
      {1, 6, 4, 1, {5, 7}, {3, 3}, {2, 2}, {1, 1}, {1, 1, 1, 1}, true},
      {2, 8, 6, 2, {4, 5}, {4, 3}, {2, 1}, {1, 2}, {0, 1, 1, 0}, false},
      {1, 20, 9, 1, {9}, {3}, {3}, {1}, {0, 0}, true},
  };
  uint32_t seed = 50;
  for (const ConvCase& c : cases) check_conv(c, true, seed += 3);
}

TEST(SgemmOps, GemmMatchesReference) {
  const int64_t M = 37, N = 53, K = 301;
  struct C {
    bool ta, tb;
    std::vector<int64_t> c;
    float alpha, beta;
    bool const_b, const_a = false;
  };
  const std::vector<C> cases{{false, false, {N}, 1.f, 1.f, true},     {false, true, {1, N}, 0.5f, 2.f, true},
                             {true, false, {M, 1}, 1.f, -1.f, false}, {true, true, {M, N}, 1.5f, 0.25f, true},
                             {false, true, {1}, 1.f, 1.f, false},     {false, false, {}, 2.f, 0.f, true},
                             {true, false, {N}, 1.f, 1.f, false, true}, {false, true, {M, 1}, 1.f, 1.f, true, true}};
  uint32_t seed = 200;
  for (const C& c : cases) {
    const Tensor a = random_f32(c.ta ? std::vector<int64_t>{K, M} : std::vector<int64_t>{M, K}, seed++);
    const Tensor b = random_f32(c.tb ? std::vector<int64_t>{N, K} : std::vector<int64_t>{K, N}, seed++);
    const Tensor cc = random_f32(c.c.empty() ? std::vector<int64_t>{1} : c.c, seed++);
    // want = alpha·A'·B' + beta·C (C broadcast), through the reference GEMM.
    Tensor want(DType::Float32, {M, N});
    float* wp = want.data_as<float>();
    const std::vector<int64_t>& cs = cc.shape();
    for (int64_t m = 0; m < M; ++m)
      for (int64_t n = 0; n < N; ++n) {
        const int64_t rm = cs.size() == 2 && cs[0] != 1 ? m : 0, cn = cs.back() != 1 ? n : 0;
        wp[m * N + n] = cc.data_as<float>()[rm * (cs.size() == 2 ? cs[1] : 0) + cn];
      }
    kernels::ref::gemm_f32(c.ta, c.tb, M, N, K, c.alpha, a.data_as<float>(), a.shape()[1], b.data_as<float>(),
                           b.shape()[1], c.beta, wp, N);
    ModelBuilder m(13);
    std::vector<Tensor> feed;
    if (c.const_a) {
      m.initializer("a", a);
    } else {
      m.input("a", DType::Float32, a.shape());
      feed.push_back(a);
    }
    if (c.const_b) {
      m.initializer("b", b);
    } else {
      m.input("b", DType::Float32, b.shape());
      feed.push_back(b);
    }
    if (feed.empty()) {  // both constant: feed C so the graph keeps an input
      m.input("c", DType::Float32, cc.shape());
      feed.push_back(cc);
    } else {
      m.initializer("c", cc);
    }
    auto& n = m.node("Gemm", {"a", "b", "c"}, {"y"});
    attr(n, "transA", int64_t(c.ta));
    attr(n, "transB", int64_t(c.tb));
    attr(n, "alpha", c.alpha);
    attr(n, "beta", c.beta);
    m.output("y");
    const auto y1 = run_with_threads(m, feed, 1), y2 = run_with_threads(m, feed, 2);
    EXPECT_EQ(compare_tensors(y1[0], y2[0], 0, 0), "") << "case " << seed;
    EXPECT_EQ(compare_tensors(y1[0], want, 1e-5, 1e-5), "") << "case " << seed;
  }
}

TEST(SgemmOps, MatMulMatchesReference) {
  struct C {
    std::vector<int64_t> a, b;
    bool const_b;
  };
  const std::vector<C> cases{{{3, 17, 40}, {40, 29}, true},   {{2, 3, 9, 33}, {3, 33, 7}, false},
                             {{300}, {300, 70}, true},          {{5, 64}, {64}, false},
                             {{64, 5, 12}, {64, 12, 6}, false}, {{130, 257}, {257, 100}, true}};
  uint32_t seed = 300;
  for (const C& c : cases) {
    const Tensor a = random_f32(c.a, seed++), b = random_f32(c.b, seed++);
    ModelBuilder m(13);
    m.input("a", DType::Float32, c.a);
    std::vector<Tensor> feed{a};
    if (c.const_b) {
      m.initializer("b", b);
    } else {
      m.input("b", DType::Float32, c.b);
      feed.push_back(b);
    }
    m.node("MatMul", {"a", "b"}, {"y"});
    m.output("y");
    const auto y1 = run_with_threads(m, feed, 1), y2 = run_with_threads(m, feed, 2);
    EXPECT_EQ(compare_tensors(y1[0], y2[0], 0, 0), "") << "case " << seed;
    // The reference: the same product on float64 (MatMul's reference path), rounded.
    auto to64 = [](const Tensor& t) {
      Tensor d(DType::Float64, t.shape());
      for (int64_t i = 0; i < t.numel(); ++i) d.data_as<double>()[i] = t.data_as<float>()[i];
      return d;
    };
    ModelBuilder r(13);
    r.input("a", DType::Float64, c.a).input("b", DType::Float64, c.b);
    r.node("MatMul", {"a", "b"}, {"y"});
    r.output("y");
    const Tensor want64 = r.session().run({to64(a), to64(b)})[0];
    Tensor want(DType::Float32, want64.shape());
    for (int64_t i = 0; i < want.numel(); ++i) want.data_as<float>()[i] = static_cast<float>(want64.data_as<double>()[i]);
    EXPECT_EQ(compare_tensors(y1[0], want, 1e-5, 1e-5), "") << "case " << seed;
  }
}

// Conv → Add(residual) → activation and Gemm → activation fuse into
// kiln.Fused* nodes whose epilogue the GEMM applies; the fused graph equals
// the unfused one (which runs the plain ops) and is thread-count independent.
TEST(SgemmOps, FusedEpiloguesMatchUnfused) {
  for (const char* act : {"Relu", "Sigmoid", "HardSwish", "Tanh", "LeakyRelu", "HardSigmoid"}) {
    ModelBuilder m(17);
    m.input("x", DType::Float32, {1, 12, 9, 9}).input("z", DType::Float32, {1, 16, 9, 9});
    m.initializer("w", random_f32({16, 12, 3, 3}, 11)).initializer("b", random_f32({16}, 12));
    auto& conv = m.node("Conv", {"x", "w", "b"}, {"c"});
    attr(conv, "pads", std::vector<int64_t>{1, 1, 1, 1});
    m.node("Add", {"c", "z"}, {"s"});
    m.node(act, {"s"}, {"y"});
    m.output("y");
    const std::vector<Tensor> feed{random_f32({1, 12, 9, 9}, 13), random_f32({1, 16, 9, 9}, 14, -2.f, 2.f)};
    const auto fused1 = run_with_threads(m, feed, 1), fused2 = run_with_threads(m, feed, 2);
    const auto unfused = run_with_threads(m, feed, 1, false);
    EXPECT_EQ(compare_tensors(fused1[0], fused2[0], 0, 0), "") << act;
    EXPECT_EQ(compare_tensors(fused1[0], unfused[0], 1e-5, 1e-5), "") << act;
    EXPECT_EQ(m.session().fusion_report().fused_adds, 1) << act;
    EXPECT_EQ(m.session().fusion_report().fused_activations, 1) << act;
  }
  ModelBuilder g(13);
  g.input("a", DType::Float32, {7, 50});
  g.initializer("w", random_f32({50, 33}, 21)).initializer("c", random_f32({33}, 22));
  g.node("Gemm", {"a", "w", "c"}, {"t"});
  g.node("Sigmoid", {"t"}, {"y"});
  g.output("y");
  const std::vector<Tensor> feed{random_f32({7, 50}, 23)};
  EXPECT_EQ(compare_tensors(run_with_threads(g, feed, 2)[0], run_with_threads(g, feed, 1, false)[0], 1e-6, 1e-5), "");
}

}  // namespace
}  // namespace kiln::test
