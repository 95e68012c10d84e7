// Gemm and MatMul: attribute combinations, C broadcasting, numpy matmul
// promotion/broadcasting, thread-count independence, and errors.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "support/model_builder.h"
#include "support/test_util.h"

namespace kiln::test {
namespace {

// Runs f and expects a kiln::Error whose message contains `part`.
void expect_error(const std::function<void()>& f, const std::string& part) {
  try {
    f();
    ADD_FAILURE() << "expected an error containing '" << part << "'";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
  }
}

// Naive Gemm over row-major float data: Y = alpha·A'·B' + beta·C (C broadcast).
Tensor naive_gemm(const Tensor& a, const Tensor& b, const Tensor* c, float alpha, float beta, bool ta, bool tb) {
  const int64_t M = a.shape()[ta ? 1 : 0], K = a.shape()[ta ? 0 : 1], N = b.shape()[tb ? 0 : 1];
  Tensor y(DType::Float32, {M, N});
  const float *A = a.data_as<float>(), *B = b.data_as<float>();
  for (int64_t m = 0; m < M; ++m)
    for (int64_t n = 0; n < N; ++n) {
      double s = 0;
      for (int64_t k = 0; k < K; ++k)
        s += double(ta ? A[k * M + m] : A[m * K + k]) * double(tb ? B[n * K + k] : B[k * N + n]);
      double cv = 0;
      if (c) {
        const auto& cs = c->shape();
        int64_t cm = cs.size() == 2 && cs[0] != 1 ? m : 0;
        int64_t cn = !cs.empty() && cs.back() != 1 ? n : 0;
        int64_t cols = cs.empty() ? 1 : cs.back();
        cv = c->data_as<float>()[cm * cols + cn];
      }
      y.data_as<float>()[m * N + n] = float(alpha * s + beta * cv);
    }
  return y;
}

TEST(Gemm, AllTransposesAndCBroadcastShapes) {
  const int64_t M = 3, N = 4, K = 5;
  const std::vector<std::vector<int64_t>> c_shapes = {{}, {1}, {N}, {M, 1}, {1, N}, {M, N}, {1, 1}};
  uint32_t seed = 1;
  for (int ta = 0; ta < 2; ++ta)
    for (int tb = 0; tb < 2; ++tb)
      for (const auto& cs : c_shapes) {
        Tensor a = random_f32(ta ? std::vector<int64_t>{K, M} : std::vector<int64_t>{M, K}, seed++);
        Tensor b = random_f32(tb ? std::vector<int64_t>{N, K} : std::vector<int64_t>{K, N}, seed++);
        Tensor c = random_f32(cs, seed++);
        auto out = run_op("Gemm", {a, b, c}, 1, [&](onnx::NodeProto& n) {
          attr(n, "alpha", 0.5f);
          attr(n, "beta", -2.f);
          attr(n, "transA", int64_t(ta));
          attr(n, "transB", int64_t(tb));
        });
        EXPECT_EQ(out[0].shape(), (std::vector<int64_t>{M, N}));
        EXPECT_EQ(compare_tensors(out[0], naive_gemm(a, b, &c, 0.5f, -2.f, ta, tb), 1e-6, 1e-5), "")
            << "transA " << ta << " transB " << tb << " C " << shape_to_string(cs);
      }
}

TEST(Gemm, OptionalCFromOpset11AndBetaZeroIgnoresC) {
  Tensor a = make_f32({2, 2}, {1, 2, 3, 4}), b = make_f32({2, 2}, {1, 0, 0, 1});
  auto out = run_op("Gemm", {a, b}, 1, {}, 13);
  EXPECT_EQ(compare_tensors(out[0], a, 0, 0), "");
  // beta = 0: C (holding NaN) must not leak into Y.
  Tensor c = make_f32({2, 2}, {NAN, NAN, NAN, NAN});
  out = run_op("Gemm", {a, b, c}, 1, [](onnx::NodeProto& n) { attr(n, "beta", 0.f); }, 13);
  EXPECT_EQ(compare_tensors(out[0], a, 0, 0), "");
  // Before opset 11 C is required.
  expect_error([&] { run_op("Gemm", {a, b}, 1, {}, 9); }, "inputs");
}

TEST(Gemm, LegacyBroadcastAttribute) {
  Tensor a = make_f32({2, 2}, {1, 2, 3, 4}), b = make_f32({2, 2}, {1, 0, 0, 1}), c = make_f32({2}, {10, 20});
  expect_error([&] { run_op("Gemm", {a, b, c}, 1, {}, 6); }, "broadcast=1");
  auto out = run_op("Gemm", {a, b, c}, 1, [](onnx::NodeProto& n) { attr(n, "broadcast", int64_t(1)); }, 6);
  EXPECT_EQ(compare_tensors(out[0], make_f32({2, 2}, {11, 22, 13, 24}), 0, 0), "");
  // A full M×N C needs no broadcast flag.
  Tensor c2 = make_f32({2, 2}, {1, 1, 1, 1});
  out = run_op("Gemm", {a, b, c2}, 1, {}, 6);
  EXPECT_EQ(compare_tensors(out[0], make_f32({2, 2}, {2, 3, 4, 5}), 0, 0), "");
}

TEST(Gemm, Float64) {
  Tensor a(DType::Float64, {1, 2}), b(DType::Float64, {2, 1}), c(DType::Float64, {});
  a.data_as<double>()[0] = 1e-10;
  a.data_as<double>()[1] = 3;
  b.data_as<double>()[0] = 1;
  b.data_as<double>()[1] = 2;
  c.data_as<double>()[0] = 1;
  auto out = run_op("Gemm", {a, b, c}, 1);
  ASSERT_EQ(out[0].dtype(), DType::Float64);
  EXPECT_DOUBLE_EQ(out[0].data_as<double>()[0], 7 + 1e-10);
}

TEST(Gemm, Errors) {
  Tensor a = random_f32({2, 3}, 1), b = random_f32({4, 5}, 2);
  expect_error([&] { run_op("Gemm", {a, b}, 1); }, "inner dimensions differ");
  Tensor b2 = random_f32({3, 4}, 3);
  expect_error([&] { run_op("Gemm", {a, b2, random_f32({3, 4}, 4)}, 1); }, "does not broadcast");
  expect_error([&] { run_op("Gemm", {a, b2, random_f32({2, 4, 1}, 4)}, 1); }, "rank 3");
  expect_error([&] { run_op("Gemm", {random_f32({2, 3, 1}, 5), b2}, 1); }, "A must be 2-D");
  expect_error([&] { run_op("Gemm", {make_i64({1, 1}, {1}), make_i64({1, 1}, {1})}, 1); }, "int64");
}

TEST(Gemm, MismatchFoundOnlyAtRunTime) {
  // Free dims at load; K differs only in the concrete inputs.
  ModelBuilder m(13);
  m.input("a", DType::Float32, {2, -1}).input("b", DType::Float32, {-1, 2}).output("y");
  m.node("Gemm", {"a", "b"}, {"y"});
  Session s = m.session();
  expect_error([&] { s.run({random_f32({2, 3}, 1), random_f32({4, 2}, 2)}); }, "inner dimensions differ");
  auto out = s.run({make_f32({2, 1}, {1, 2}), make_f32({1, 2}, {3, 4})});
  EXPECT_EQ(compare_tensors(out[0], make_f32({2, 2}, {3, 4, 6, 8}), 0, 0), "");
}

// Runs a one-node model with a given thread count.
std::vector<Tensor> run_threads(const ModelBuilder& m, const std::vector<Tensor>& in, int threads) {
  SessionOptions opt;
  opt.threads = threads;
  return m.session(opt).run(in);
}

TEST(Gemm, ResultIndependentOfThreadCount) {
  const int64_t M = 97, N = 83, K = 131;
  ModelBuilder m(13);
  m.input("a", DType::Float32, {K, M}).input("b", DType::Float32, {K, N}).input("c", DType::Float32, {N}).output("y");
  auto& n = m.node("Gemm", {"a", "b", "c"}, {"y"});
  attr(n, "transA", int64_t(1));
  std::vector<Tensor> in = {random_f32({K, M}, 7), random_f32({K, N}, 8), random_f32({N}, 9)};
  auto y1 = run_threads(m, in, 1), y2 = run_threads(m, in, 2), y3 = run_threads(m, in, 3);
  EXPECT_EQ(compare_tensors(y1[0], y2[0], 0, 0), "");
  EXPECT_EQ(compare_tensors(y1[0], y3[0], 0, 0), "");
  EXPECT_EQ(compare_tensors(y1[0], naive_gemm(in[0], in[1], &in[2], 1, 1, true, false), 1e-5, 1e-5), "");
}

// Naive numpy.matmul over float data with batch broadcasting and 1-D promotion.
Tensor naive_matmul(const Tensor& a, const Tensor& b) {
  std::vector<int64_t> as = a.shape(), bs = b.shape();
  const bool av = as.size() == 1, bv = bs.size() == 1;
  if (av) as.insert(as.begin(), 1);
  if (bv) bs.push_back(1);
  const int64_t M = as[as.size() - 2], K = as.back(), N = bs.back();
  const size_t r = std::max(as.size(), bs.size());
  as.insert(as.begin(), r - as.size(), 1);
  bs.insert(bs.begin(), r - bs.size(), 1);
  std::vector<int64_t> batch(r - 2);
  for (size_t i = 0; i + 2 < r; ++i) batch[i] = std::max(as[i], bs[i]);
  int64_t nb = 1;
  for (int64_t d : batch) nb *= d;
  std::vector<int64_t> out = batch;
  if (!av) out.push_back(M);
  if (!bv) out.push_back(N);
  Tensor y(DType::Float32, out);
  for (int64_t bi = 0; bi < nb; ++bi) {
    int64_t rem = bi, oa = 0, ob = 0, sa = 1, sb = 1;
    for (size_t i = batch.size(); i-- > 0;) {
      int64_t idx = rem % batch[i];
      rem /= batch[i];
      oa += (as[i] == 1 ? 0 : idx) * sa;
      ob += (bs[i] == 1 ? 0 : idx) * sb;
      sa *= as[i];
      sb *= bs[i];
    }
    for (int64_t mi = 0; mi < M; ++mi)
      for (int64_t ni = 0; ni < N; ++ni) {
        double s = 0;
        for (int64_t k = 0; k < K; ++k)
          s += double(a.data_as<float>()[oa * M * K + mi * K + k]) *
               double(b.data_as<float>()[ob * K * N + k * N + ni]);
        y.data_as<float>()[bi * M * N + mi * N + ni] = float(s);
      }
  }
  return y;
}

TEST(MatMul, PromotionAndBatchBroadcasting) {
  struct Case {
    std::vector<int64_t> a, b, out;
  };
  const std::vector<Case> cases = {
      {{3}, {3}, {}},                          // dot product: a scalar
      {{3}, {3, 4}, {4}},                      // 1-D A: row vector
      {{2, 3}, {3}, {2}},                      // 1-D B: column vector
      {{5, 2, 3}, {3}, {5, 2}},                // batched matrix · vector
      {{3}, {5, 3, 2}, {5, 2}},                // vector · batched matrix
      {{2, 1, 3, 4}, {5, 4, 2}, {2, 5, 3, 2}}, // batch dims broadcast both ways
      {{1, 3, 4}, {6, 4, 2}, {6, 3, 2}},
      {{7, 1, 4}, {4, 1}, {7, 1, 1}},
      {{2, 0, 4}, {4, 3}, {2, 0, 3}},          // empty M
      {{2, 3, 0}, {0, 3}, {2, 3, 3}},          // K = 0: zeros
  };
  uint32_t seed = 10;
  for (const Case& c : cases) {
    Tensor a = random_f32(c.a, seed++), b = random_f32(c.b, seed++);
    auto out = run_op("MatMul", {a, b}, 1);
    EXPECT_EQ(out[0].shape(), c.out) << shape_to_string(c.a) << " @ " << shape_to_string(c.b);
    EXPECT_EQ(compare_tensors(out[0], naive_matmul(a, b), 1e-6, 1e-5), "")
        << shape_to_string(c.a) << " @ " << shape_to_string(c.b);
  }
}

TEST(MatMul, KnownSmallProducts) {
  auto out = run_op("MatMul", {make_f32({3}, {1, 2, 3}), make_f32({3}, {4, 5, 6})}, 1);
  ASSERT_EQ(out[0].numel(), 1);
  EXPECT_EQ(out[0].data_as<float>()[0], 32.f);
  out = run_op("MatMul", {make_f32({2, 2}, {1, 2, 3, 4}), make_f32({2}, {1, -1})}, 1);
  EXPECT_EQ(compare_tensors(out[0], make_f32({2}, {-1, -1}), 0, 0), "");
}

TEST(MatMul, Int64WrapsLikeNumpy) {
  auto out = run_op("MatMul", {make_i64({1, 2}, {INT64_MAX, 2}), make_i64({2, 1}, {2, 3})}, 1);
  ASSERT_EQ(out[0].dtype(), DType::Int64);
  // INT64_MAX·2 + 6 wraps to 4 modulo 2^64.
  EXPECT_EQ(out[0].data_as<int64_t>()[0], 4);
  Tensor a(DType::Int32, {2}), b(DType::Int32, {2});
  a.data_as<int32_t>()[0] = -3;
  a.data_as<int32_t>()[1] = 5;
  b.data_as<int32_t>()[0] = 7;
  b.data_as<int32_t>()[1] = 2;
  out = run_op("MatMul", {a, b}, 1);
  EXPECT_EQ(out[0].data_as<int32_t>()[0], -11);
}

TEST(MatMul, Errors) {
  expect_error([&] { run_op("MatMul", {random_f32({2, 3}, 1), random_f32({4, 2}, 2)}, 1); }, "inner dimensions differ");
  expect_error([&] { run_op("MatMul", {random_f32({3}, 1), random_f32({4}, 2)}, 1); }, "inner dimensions differ");
  expect_error([&] { run_op("MatMul", {random_f32({2, 2, 3}, 1), random_f32({3, 3, 2}, 2)}, 1); },
               "batch dimensions do not broadcast");
  expect_error([&] { run_op("MatMul", {random_f32({}, 1), random_f32({3}, 2)}, 1); }, "scalar");
  expect_error([&] { run_op("MatMul", {random_f32({2, 3}, 1), make_i64({3, 1}, {1, 2, 3})}, 1); }, "different dtypes");
}

TEST(MatMul, BatchedResultIndependentOfThreadCount) {
  ModelBuilder m(13);
  m.input("a", DType::Float32, {3, 1, 45, 70}).input("b", DType::Float32, {4, 70, 33}).output("y");
  m.node("MatMul", {"a", "b"}, {"y"});
  std::vector<Tensor> in = {random_f32({3, 1, 45, 70}, 1), random_f32({4, 70, 33}, 2)};
  auto y1 = run_threads(m, in, 1), y2 = run_threads(m, in, 2);
  EXPECT_EQ(y1[0].shape(), (std::vector<int64_t>{3, 4, 45, 33}));
  EXPECT_EQ(compare_tensors(y1[0], y2[0], 0, 0), "");
  EXPECT_EQ(compare_tensors(y1[0], naive_matmul(in[0], in[1]), 1e-5, 1e-5), "");
}

}  // namespace
}  // namespace kiln::test
