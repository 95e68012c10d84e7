// The float32 fast paths of the non-GEMM ops and of one-row / one-column
// products, checked at op level against the reference (or the unfused
// graph, or float64) and across thread counts:
//  - kiln.FusedBatchNormalization applies its residual and activation in the
//    affine pass (affine_act_f32);
//  - Gemm with M = 1 or N = 1 and MatMul with one row on the GEMV kernels;
//  - constant Pad as row copies, and a zero Pad as the input itself;
//  - 2-D MaxPool / AveragePool on the SIMD pool kernel.
#include <gtest/gtest.h>

#include <cstring>

#include "kernels/reference/gemm.h"
#include "support/model_builder.h"
#include "support/test_util.h"

namespace kiln::test {
namespace {

std::vector<Tensor> run_opts(const ModelBuilder& m, const std::vector<Tensor>& in, int threads, bool fusion = true) {
  SessionOptions opt;
  opt.threads = threads;
  opt.fusion = fusion;
  return m.session(opt).run(in);
}

// The kernel the profile names for the node of `op_type`.
std::string kernel_of(const ModelBuilder& m, const std::vector<Tensor>& in, const std::string& op_type) {
  std::vector<NodeProfile> prof;
  m.session().run_profiled(in, prof);
  for (const NodeProfile& p : prof)
    if (p.op_type == op_type) return p.kernel;
  return "(no " + op_type + ")";
}

Tensor to_f64(const Tensor& t) {
  Tensor d(DType::Float64, t.shape());
  for (int64_t i = 0; i < t.numel(); ++i) d.data_as<double>()[i] = t.data_as<float>()[i];
  return d;
}
Tensor to_f32(const Tensor& t) {
  Tensor f(DType::Float32, t.shape());
  for (int64_t i = 0; i < t.numel(); ++i) f.data_as<float>()[i] = static_cast<float>(t.data_as<double>()[i]);
  return f;
}

// ------------------------------------------------------------ BatchNorm epilogue

// (The passes fuse a residual Add only into Conv, so here BN → Add → act
// keeps the Add; the kernel's residual is covered by simd_affine_act_test.)
TEST(SmallOpsFast, FusedBatchNormEpilogueMatchesUnfused) {
  for (const char* act : {"Relu", "Clip", "Sigmoid", "HardSwish", "LeakyRelu", "Tanh"})
    for (bool residual : {false, true}) {
      ModelBuilder m(17);
      const std::vector<int64_t> shape{2, 5, 7, 9};
      m.input("x", DType::Float32, shape);
      if (residual) m.input("z", DType::Float32, shape);
      m.initializer("s", random_f32({5}, 1, 0.5f, 2.f)).initializer("b", random_f32({5}, 2));
      m.initializer("mean", random_f32({5}, 3)).initializer("var", random_f32({5}, 4, 0.5f, 2.f));
      m.node("BatchNormalization", {"x", "s", "b", "mean", "var"}, {"t"});
      std::string pre = "t";
      if (residual) {
        m.node("Add", {"t", "z"}, {"u"});
        pre = "u";
      }
      std::vector<std::string> act_in{pre};
      if (std::string(act) == "Clip") {
        m.initializer("lo", make_f32({}, {-0.5f})).initializer("hi", make_f32({}, {1.5f}));
        act_in = {pre, "lo", "hi"};
      }
      m.node(act, act_in, {"y"});
      m.output("y");
      std::vector<Tensor> feed{random_f32(shape, 5, -3.f, 3.f)};
      if (residual) feed.push_back(random_f32(shape, 6));
      const auto f1 = run_opts(m, feed, 1), f2 = run_opts(m, feed, 2), unfused = run_opts(m, feed, 1, false);
      EXPECT_EQ(compare_tensors(f1[0], f2[0], 0, 0), "") << act;
      EXPECT_EQ(compare_tensors(f1[0], unfused[0], 1e-6, 1e-5), "") << act << " residual " << residual;
      if (!residual)
        EXPECT_EQ(kernel_of(m, feed, "kiln.FusedBatchNormalization").rfind("affine_act_f32_", 0), 0u) << act;
    }
}

// ------------------------------------------------------------ GEMV shapes

TEST(SmallOpsFast, GemmOneRowOrColumnOnGemv) {
  struct C {
    int64_t M, N, K;
    bool ta, tb;
    std::vector<int64_t> c;  // empty: no C
    float alpha, beta;
    bool const_a, const_b;
  };
  const std::vector<C> cases{
      {1, 1000, 512, false, true, {1000}, 1.f, 1.f, false, true},  // a classifier
      {1, 77, 300, false, false, {1, 77}, 0.5f, 2.f, false, true},
      {1, 50, 9, true, true, {1, 1}, 1.f, -1.f, false, true},
      {1, 130, 257, false, true, {}, 1.f, 0.f, false, true},
      {1, 49, 31, false, true, {1, 49}, 1.f, 1.f, false, true},
      {45, 1, 300, false, false, {45, 1}, 1.f, 1.f, true, false},  // one column: A packed
      {200, 1, 7, true, true, {1}, 2.f, 0.5f, true, false},
      {9, 1, 513, false, false, {}, 1.f, 1.f, true, false},
  };
  uint32_t seed = 10;
  for (const C& c : cases) {
    const Tensor a = random_f32(c.ta ? std::vector<int64_t>{c.K, c.M} : std::vector<int64_t>{c.M, c.K}, seed++);
    const Tensor b = random_f32(c.tb ? std::vector<int64_t>{c.N, c.K} : std::vector<int64_t>{c.K, c.N}, seed++);
    const Tensor cc = random_f32(c.c.empty() ? std::vector<int64_t>{1} : c.c, seed++);
    Tensor want(DType::Float32, {c.M, c.N});
    float* wp = want.data_as<float>();
    for (int64_t i = 0; i < want.numel(); ++i) wp[i] = c.c.empty() ? 0.f : cc.data_as<float>()[cc.numel() == 1 ? 0 : i];
    kernels::ref::gemm_f32(c.ta, c.tb, c.M, c.N, c.K, c.alpha, a.data_as<float>(), a.shape()[1], b.data_as<float>(),
                           b.shape()[1], c.c.empty() ? 0.f : c.beta, wp, c.N);
    ModelBuilder m(13);
    std::vector<Tensor> feed;
    auto operand = [&](const char* name, const Tensor& t, bool constant) {
      if (constant) {
        m.initializer(name, t);
      } else {
        m.input(name, DType::Float32, t.shape());
        feed.push_back(t);
      }
    };
    operand("a", a, c.const_a);
    operand("b", b, c.const_b);
    std::vector<std::string> ins{"a", "b"};
    if (!c.c.empty()) {
      m.initializer("c", cc);
      ins.push_back("c");
    }
    auto& n = m.node("Gemm", ins, {"y"});
    attr(n, "transA", int64_t(c.ta));
    attr(n, "transB", int64_t(c.tb));
    attr(n, "alpha", c.alpha);
    attr(n, "beta", c.beta);
    m.output("y");
    const auto y1 = run_opts(m, feed, 1), y2 = run_opts(m, feed, 2);
    EXPECT_EQ(compare_tensors(y1[0], y2[0], 0, 0), "") << "case " << seed;
    EXPECT_EQ(compare_tensors(y1[0], want, 1e-5, 1e-5), "") << "case " << seed;
    EXPECT_EQ(kernel_of(m, feed, "Gemm").rfind("gemv_", 0), 0u) << "case " << seed;
  }
}

TEST(SmallOpsFast, MatMulOneRowAndFusedGemvEpilogue) {
  // [K] · [K, N] and [2, 1, K] · [K, N] with B constant: one-row products.
  for (const std::vector<int64_t>& as : {std::vector<int64_t>{300}, std::vector<int64_t>{2, 1, 300}}) {
    const Tensor a = random_f32(as, 40), b = random_f32({300, 70}, 41);
    ModelBuilder m(13);
    m.input("a", DType::Float32, as).initializer("b", b);
    m.node("MatMul", {"a", "b"}, {"y"});
    m.output("y");
    ModelBuilder r(13);
    r.input("a", DType::Float64, as).input("b", DType::Float64, {300, 70});
    r.node("MatMul", {"a", "b"}, {"y"});
    r.output("y");
    const Tensor want = to_f32(r.session().run({to_f64(a), to_f64(b)})[0]);
    const auto y1 = run_opts(m, {a}, 1), y2 = run_opts(m, {a}, 2);
    EXPECT_EQ(compare_tensors(y1[0], y2[0], 0, 0), "");
    EXPECT_EQ(compare_tensors(y1[0], want, 1e-5, 1e-5), "");
    EXPECT_EQ(kernel_of(m, {a}, "MatMul").rfind("gemv_", 0), 0u);
  }
  // Gemm (M = 1) → Sigmoid: the activation fused into the GEMV's epilogue.
  ModelBuilder g(13);
  g.input("a", DType::Float32, {1, 90});
  g.initializer("w", random_f32({61, 90}, 42)).initializer("c", random_f32({61}, 43));
  auto& n = g.node("Gemm", {"a", "w", "c"}, {"t"});
  attr(n, "transB", int64_t{1});
  g.node("Sigmoid", {"t"}, {"y"});
  g.output("y");
  const std::vector<Tensor> feed{random_f32({1, 90}, 44, -3.f, 3.f)};
  EXPECT_EQ(compare_tensors(run_opts(g, feed, 2)[0], run_opts(g, feed, 1, false)[0], 1e-6, 1e-5), "");
  EXPECT_EQ(kernel_of(g, feed, "kiln.FusedGemm").rfind("gemv_", 0), 0u);
}

// ------------------------------------------------------------ Pad

// Constant Pad by definition: y[o] = x[o − pads_begin] when inside x, else v.
Tensor pad_want(const Tensor& x, const std::vector<int64_t>& pads, float v) {
  const size_t r = x.rank();
  std::vector<int64_t> out(r);
  for (size_t d = 0; d < r; ++d) out[d] = x.shape()[d] + pads[d] + pads[r + d];
  Tensor y(DType::Float32, out);
  std::vector<int64_t> idx(r, 0);
  for (int64_t i = 0; i < y.numel(); ++i) {
    int64_t off = 0;
    bool in = true;
    for (size_t d = 0; d < r; ++d) {
      const int64_t j = idx[d] - pads[d];
      in = in && j >= 0 && j < x.shape()[d];
      off = off * x.shape()[d] + j;
    }
    y.data_as<float>()[i] = in ? x.data_as<float>()[off] : v;
    for (size_t d = r; d-- > 0;)
      if (++idx[d] < out[d]) break;
      else idx[d] = 0;
  }
  return y;
}

TEST(SmallOpsFast, ConstantPadRowCopies) {
  const Tensor x = random_f32({2, 3, 5, 7}, 50);
  const std::vector<std::vector<int64_t>> cases{
      {0, 0, 1, 1, 0, 0, 1, 1},     // NCHW spatial
      {0, 0, 0, 2, 0, 0, 3, 0},     // uneven
      {0, 1, -1, -2, 1, 0, 2, -3},  // crops and pads mixed, channel axis too
      {0, 0, 0, 0, 0, 0, 0, 0},     // nothing: the input itself
      {0, 0, -5, 0, 0, 0, 0, 0},    // everything cropped on one axis
  };
  for (const auto& pads : cases) {
    const auto y = run_op("Pad", {x, make_i64({8}, pads), make_f32({}, {2.5f})}, 1);
    EXPECT_EQ(compare_tensors(y[0], pad_want(x, pads, 2.5f), 0, 0), "");
  }
}

// ------------------------------------------------------------ Pools

TEST(SmallOpsFast, Pools2dMatchFloat64Reference) {
  struct P {
    const char* op;
    std::vector<int64_t> k, s, pads;
    int64_t ceil, include_pad;
    const char* auto_pad;
  };
  const std::vector<P> cases{
      {"MaxPool", {3, 3}, {2, 2}, {1, 1, 1, 1}, 0, 0, "NOTSET"},
      {"MaxPool", {3, 3}, {2, 2}, {0, 0, 0, 0}, 1, 0, "NOTSET"},
      {"MaxPool", {3, 3}, {1, 1}, {1, 1, 1, 1}, 0, 0, "NOTSET"},
      {"AveragePool", {2, 2}, {2, 2}, {0, 0, 0, 0}, 0, 0, "NOTSET"},
      {"AveragePool", {3, 3}, {2, 2}, {1, 1, 1, 1}, 1, 1, "NOTSET"},
      {"AveragePool", {3, 3}, {2, 2}, {1, 1, 1, 1}, 1, 0, "NOTSET"},
      {"AveragePool", {3, 3}, {1, 1}, {1, 1, 1, 1}, 0, 1, "NOTSET"},
      {"AveragePool", {3, 2}, {2, 1}, {}, 0, 1, "SAME_UPPER"},
  };
  const Tensor x = random_f32({2, 3, 13, 38}, 60, -5.f, 5.f);
  for (const P& c : cases) {
    auto set = [&](onnx::NodeProto& n) {
      attr(n, "kernel_shape", c.k);
      attr(n, "strides", c.s);
      if (!c.pads.empty()) attr(n, "pads", c.pads);
      attr(n, "ceil_mode", c.ceil);
      attr(n, "auto_pad", std::string(c.auto_pad));
      if (std::string(c.op) == "AveragePool") attr(n, "count_include_pad", c.include_pad);
    };
    const auto y = run_op(c.op, {x}, 1, set);
    const auto want = run_op(c.op, {to_f64(x)}, 1, set);  // float64: the reference kernel
    EXPECT_EQ(compare_tensors(y[0], to_f32(want[0]), 1e-6, 1e-6), "") << c.op << " ceil " << c.ceil;
  }
}

}  // namespace
}  // namespace kiln::test
