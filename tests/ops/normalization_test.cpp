// BatchNormalization (inference and training, every opset family), LRN,
// InstanceNormalization and LayerNormalization against hand-computed values and
// naive formulas, plus their errors.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "support/model_builder.h"
#include "support/test_util.h"

namespace kiln::test {
namespace {

void expect_error(const std::function<void()>& f, const std::string& part) {
  try {
    f();
    ADD_FAILURE() << "expected an error containing '" << part << "'";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
  }
}

Tensor make_f64(std::vector<int64_t> shape, std::vector<double> v) {
  Tensor t(DType::Float64, std::move(shape));
  std::copy(v.begin(), v.end(), t.data_as<double>());
  return t;
}

// Naive inference BatchNormalization over channel axis 1.
Tensor naive_bn(const Tensor& x, const Tensor& s, const Tensor& b, const Tensor& m, const Tensor& v, float eps) {
  const auto& xs = x.shape();
  const int64_t C = xs.size() > 1 ? xs[1] : 1;
  int64_t S = 1;
  for (size_t i = 2; i < xs.size(); ++i) S *= xs[i];
  Tensor y(DType::Float32, xs);
  for (int64_t i = 0; i < x.numel(); ++i) {
    int64_t c = (i / S) % C;
    y.data_as<float>()[i] = (x.data_as<float>()[i] - m.data_as<float>()[c]) /
                                std::sqrt(v.data_as<float>()[c] + eps) * s.data_as<float>()[c] +
                            b.data_as<float>()[c];
  }
  return y;
}

TEST(BatchNormalization, InferenceRanks1To5) {
  const std::vector<std::vector<int64_t>> shapes = {{6}, {4, 3}, {2, 3, 5}, {2, 3, 4, 5}, {1, 3, 2, 3, 4}};
  uint32_t seed = 1;
  for (const auto& xs : shapes) {
    const int64_t C = xs.size() > 1 ? xs[1] : 1;
    Tensor x = random_f32(xs, seed++, -3, 3), s = random_f32({C}, seed++), b = random_f32({C}, seed++),
           m = random_f32({C}, seed++), v = random_f32({C}, seed++, 0.1f, 2.f);
    for (int opset : {9, 14, 15}) {
      auto out = run_op("BatchNormalization", {x, s, b, m, v}, 1, [](onnx::NodeProto& n) { attr(n, "epsilon", 1e-3f); },
                        opset);
      EXPECT_EQ(compare_tensors(out[0], naive_bn(x, s, b, m, v, 1e-3f), 1e-6, 1e-5), "")
          << shape_to_string(xs) << " opset " << opset;
    }
  }
}

TEST(BatchNormalization, TrainingModeHandComputed) {
  // x is N=2 × C=2: channel 0 holds {1, 3} (mean 2, variance 1),
  // channel 1 holds {2, 6} (mean 4, variance 4). eps = 0, momentum = 0.9.
  Tensor x = make_f32({2, 2}, {1, 2, 3, 6});
  Tensor s = make_f32({2}, {1, 2}), b = make_f32({2}, {0, 1});
  Tensor m = make_f32({2}, {0, 10}), v = make_f32({2}, {1, 1});
  // y = (x − μ)/σ·scale + B: ch0 {−1, 1}; ch1 {(2−4)/2·2+1, (6−4)/2·2+1} = {−1, 3}.
  const Tensor want_y = make_f32({2, 2}, {-1, -1, 1, 3});
  // running_mean = 0.9·mean + 0.1·μ = {0.2, 9.4}; running_var = 0.9·var + 0.1·σ² = {1.0, 1.3}.
  const Tensor want_rm = make_f32({2}, {0.2f, 9.4f}), want_rv = make_f32({2}, {1.0f, 1.3f});
  auto set = [](onnx::NodeProto& n) {
    attr(n, "epsilon", 0.f);
    attr(n, "training_mode", int64_t(1));
  };
  for (int opset : {14, 15}) {
    auto out = run_op("BatchNormalization", {x, s, b, m, v}, 3, set, opset);
    EXPECT_EQ(compare_tensors(out[0], want_y, 1e-6, 1e-6), "") << opset;
    EXPECT_EQ(compare_tensors(out[1], want_rm, 1e-6, 1e-6), "") << opset;
    EXPECT_EQ(compare_tensors(out[2], want_rv, 1e-6, 1e-6), "") << opset;
  }
  // training_mode=1 with only Y still normalizes with the batch statistics.
  auto y_only = run_op("BatchNormalization", {x, s, b, m, v}, 1, set, 15);
  EXPECT_EQ(compare_tensors(y_only[0], want_y, 1e-6, 1e-6), "");

  // Opsets 7–13: training is signalled by the extra outputs; saved_mean/var are μ, σ².
  for (int opset : {7, 9, 13}) {
    auto out = run_op("BatchNormalization", {x, s, b, m, v}, 5, [](onnx::NodeProto& n) { attr(n, "epsilon", 0.f); },
                      opset);
    EXPECT_EQ(compare_tensors(out[0], want_y, 1e-6, 1e-6), "") << opset;
    EXPECT_EQ(compare_tensors(out[1], want_rm, 1e-6, 1e-6), "") << opset;
    EXPECT_EQ(compare_tensors(out[2], want_rv, 1e-6, 1e-6), "") << opset;
    EXPECT_EQ(compare_tensors(out[3], make_f32({2}, {2, 4}), 1e-6, 1e-6), "") << opset;
    EXPECT_EQ(compare_tensors(out[4], make_f32({2}, {1, 4}), 1e-6, 1e-6), "") << opset;
  }
  // The same node with only Y is inference: normalized with the given mean/var.
  auto inf = run_op("BatchNormalization", {x, s, b, m, v}, 1, [](onnx::NodeProto& n) { attr(n, "epsilon", 0.f); }, 9);
  EXPECT_EQ(compare_tensors(inf[0], naive_bn(x, s, b, m, v, 0.f), 1e-6, 1e-6), "");
}

TEST(BatchNormalization, TrainingModeRank4AgainstNaiveStatistics) {
  Tensor x = random_f32({3, 4, 5, 6}, 3, -2, 5);
  Tensor s = random_f32({4}, 4), b = random_f32({4}, 5), m = random_f32({4}, 6), v = random_f32({4}, 7, 0.5f, 1.5f);
  auto out = run_op("BatchNormalization", {x, s, b, m, v}, 3, [](onnx::NodeProto& n) {
    attr(n, "training_mode", int64_t(1));
    attr(n, "momentum", 0.75f);
  });
  // Batch statistics per channel, by a plain loop.
  Tensor mu(DType::Float32, {4}), var(DType::Float32, {4});
  for (int64_t c = 0; c < 4; ++c) {
    double sum = 0, sq = 0;
    for (int64_t n = 0; n < 3; ++n)
      for (int64_t i = 0; i < 30; ++i) sum += x.data_as<float>()[(n * 4 + c) * 30 + i];
    const double mean = sum / 90;
    for (int64_t n = 0; n < 3; ++n)
      for (int64_t i = 0; i < 30; ++i) sq += std::pow(x.data_as<float>()[(n * 4 + c) * 30 + i] - mean, 2);
    mu.data_as<float>()[c] = float(mean);
    var.data_as<float>()[c] = float(sq / 90);
  }
  EXPECT_EQ(compare_tensors(out[0], naive_bn(x, s, b, mu, var, 1e-5f), 1e-5, 1e-4), "");
  for (int64_t c = 0; c < 4; ++c) {
    EXPECT_NEAR(out[1].data_as<float>()[c], 0.75 * m.data_as<float>()[c] + 0.25 * mu.data_as<float>()[c], 1e-5);
    EXPECT_NEAR(out[2].data_as<float>()[c], 0.75 * v.data_as<float>()[c] + 0.25 * var.data_as<float>()[c], 1e-5);
  }
}

TEST(BatchNormalization, TrainingResultIndependentOfThreadCount) {
  ModelBuilder mb(15);
  const std::vector<int64_t> xs = {4, 16, 20, 20};
  mb.input("x", DType::Float32, xs);
  for (const char* p : {"s", "b", "m", "v"}) mb.input(p, DType::Float32, {16});
  mb.output("y").output("rm").output("rv");
  attr(mb.node("BatchNormalization", {"x", "s", "b", "m", "v"}, {"y", "rm", "rv"}), "training_mode", int64_t(1));
  std::vector<Tensor> in = {random_f32(xs, 1), random_f32({16}, 2), random_f32({16}, 3), random_f32({16}, 4),
                            random_f32({16}, 5, 0.5f, 1.f)};
  SessionOptions one, two;
  one.threads = 1;
  two.threads = 2;
  auto a = mb.session(one).run(in), b = mb.session(two).run(in);
  for (size_t i = 0; i < 3; ++i) EXPECT_EQ(compare_tensors(a[i], b[i], 0, 0), "") << "output " << i;
}

TEST(BatchNormalization, Opset15MixedParameterDtypes) {
  // scale/B in float64, mean/var in float32; X float32. Outputs: Y float32, running stats float32.
  Tensor x = make_f32({2, 2}, {1, 2, 3, 6});
  Tensor s = make_f64({2}, {1, 2}), b = make_f64({2}, {0, 1});
  Tensor m = make_f32({2}, {0, 10}), v = make_f32({2}, {1, 1});
  auto out = run_op("BatchNormalization", {x, s, b, m, v}, 3, [](onnx::NodeProto& n) {
    attr(n, "epsilon", 0.f);
    attr(n, "training_mode", int64_t(1));
  }, 15);
  EXPECT_EQ(compare_tensors(out[0], make_f32({2, 2}, {-1, -1, 1, 3}), 1e-6, 1e-6), "");
  EXPECT_EQ(out[1].dtype(), DType::Float32);
  // Opset 14 requires scale/B to match X.
  expect_error([&] { run_op("BatchNormalization", {x, s, b, m, v}, 1, {}, 14); }, "different dtypes");
  // float16 parameters are refused by name.
  Tensor h(DType::Float16, {2});
  expect_error([&] { run_op("BatchNormalization", {x, h, h, m, v}, 1, {}, 15); }, "float16");
}

TEST(BatchNormalization, NonSpatialOpset7) {
  // spatial=0: every feature (c, d) has its own statistics: shapes [C, D].
  Tensor x = random_f32({2, 2, 3}, 1);
  Tensor s = random_f32({2, 3}, 2), b = random_f32({2, 3}, 3), m = random_f32({2, 3}, 4),
         v = random_f32({2, 3}, 5, 0.5f, 1.f);
  auto non_spatial = [](onnx::NodeProto& n) { attr(n, "spatial", int64_t(0)); };
  auto out = run_op("BatchNormalization", {x, s, b, m, v}, 1, non_spatial, 7);
  Tensor want = naive_bn(x.reshaped({2, 6}), s.reshaped({6}), b.reshaped({6}), m.reshaped({6}), v.reshaped({6}), 1e-5f);
  EXPECT_EQ(compare_tensors(out[0], want.reshaped({2, 2, 3}), 1e-6, 1e-5), "");
  // With spatial=0 per-channel [C] parameters are wrong.
  Tensor c2 = random_f32({2}, 6);
  expect_error([&] { run_op("BatchNormalization", {x, c2, c2, c2, c2}, 1, non_spatial, 7); }, "spatial=0");
}

TEST(BatchNormalization, Errors) {
  Tensor x = random_f32({2, 3, 4}, 1), p3 = random_f32({3}, 2), p4 = random_f32({4}, 3);
  expect_error([&] { run_op("BatchNormalization", {x, p4, p3, p3, p3}, 1); }, "scale has shape 4");
  expect_error([&] { run_op("BatchNormalization", {x, p3, p3, p3, p4}, 1); }, "var has shape 4");
  expect_error([&] { run_op("BatchNormalization", {x, random_f32({3, 1}, 4), p3, p3, p3}, 1); }, "1-D");
  // Extra outputs without training_mode=1 (opset 14+).
  expect_error([&] { run_op("BatchNormalization", {x, p3, p3, p3, p3}, 3, {}, 15); }, "training_mode=1");
  // Opset 6: is_test=1 contradicts training outputs.
  expect_error([&] {
    run_op("BatchNormalization", {x, p3, p3, p3, p3}, 5, [](onnx::NodeProto& n) { attr(n, "is_test", int64_t(1)); }, 6);
  }, "is_test=1");
  // 1-D X only from opset 9.
  Tensor x1 = random_f32({5}, 7), p1 = random_f32({1}, 8);
  expect_error([&] { run_op("BatchNormalization", {x1, p1, p1, p1, p1}, 1, {}, 7); }, "rank >= 2");
  // Wrong channel count found only at run time.
  ModelBuilder mb(15);
  mb.input("x", DType::Float32, {2, -1});
  for (const char* p : {"s", "b", "m", "v"}) mb.input(p, DType::Float32, {-1});
  mb.output("y");
  mb.node("BatchNormalization", {"x", "s", "b", "m", "v"}, {"y"});
  Session sess = mb.session();
  expect_error([&] { sess.run({random_f32({2, 3}, 1), p3, p3, p4, p3}); }, "mean has shape 4");
}

// Naive LRN over an N×C×S tensor.
Tensor naive_lrn(const Tensor& x, int64_t size, double alpha, double beta, double bias) {
  const auto& xs = x.shape();
  const int64_t N = xs[0], C = xs[1], S = x.numel() / (N * C);
  Tensor y(DType::Float32, xs);
  const float* X = x.data_as<float>();
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t s = 0; s < S; ++s) {
        double sum = 0;
        for (int64_t i = std::max<int64_t>(0, c - (size - 1) / 2); i <= std::min<int64_t>(C - 1, c + size / 2); ++i)
          sum += double(X[(n * C + i) * S + s]) * X[(n * C + i) * S + s];
        y.data_as<float>()[(n * C + c) * S + s] =
            float(X[(n * C + c) * S + s] / std::pow(bias + alpha / size * sum, beta));
      }
  return y;
}

TEST(LRN, OddAndEvenWindowsAgainstNaive) {
  Tensor x = random_f32({2, 7, 3, 2}, 1, -4, 4);
  for (int64_t size : {1, 2, 3, 4, 9}) {
    auto out = run_op("LRN", {x}, 1, [&](onnx::NodeProto& n) {
      attr(n, "size", size);
      attr(n, "alpha", 0.5f);
      attr(n, "beta", 0.6f);
      attr(n, "bias", 1.5f);
    });
    EXPECT_EQ(compare_tensors(out[0], naive_lrn(x, size, 0.5, 0.6, 1.5), 1e-6, 1e-5), "") << "size " << size;
  }
  // Hand check, size 2 (window c … c+1): x = [1, 2] over C: y0 = 1/(1 + 1/2·5)^1, y1 = 2/(1 + 1/2·4).
  auto out = run_op("LRN", {make_f32({1, 2}, {1, 2})}, 1, [](onnx::NodeProto& n) {
    attr(n, "size", int64_t(2));
    attr(n, "alpha", 1.f);
    attr(n, "beta", 1.f);
  });
  EXPECT_EQ(compare_tensors(out[0], make_f32({1, 2}, {1 / 3.5f, 2 / 3.f}), 1e-7, 1e-6), "");
}

TEST(LRN, Errors) {
  Tensor x = random_f32({1, 3, 2, 2}, 1);
  expect_error([&] { run_op("LRN", {x}, 1); }, "'size' is required");
  expect_error([&] { run_op("LRN", {x}, 1, [](onnx::NodeProto& n) { attr(n, "size", int64_t(0)); }); }, ">= 1");
  expect_error([&] { run_op("LRN", {random_f32({3}, 2)}, 1, [](onnx::NodeProto& n) { attr(n, "size", int64_t(3)); }); },
               "rank >= 2");
}

TEST(InstanceNormalization, AgainstNaive) {
  Tensor x = random_f32({2, 3, 4, 5}, 1, -2, 6), s = random_f32({3}, 2), b = random_f32({3}, 3);
  auto out = run_op("InstanceNormalization", {x, s, b}, 1, [](onnx::NodeProto& n) { attr(n, "epsilon", 1e-2f); });
  Tensor want(DType::Float32, x.shape());
  for (int64_t r = 0; r < 6; ++r) {
    const float* p = x.data_as<float>() + r * 20;
    double mean = 0, var = 0;
    for (int i = 0; i < 20; ++i) mean += p[i] / 20.0;
    for (int i = 0; i < 20; ++i) var += (p[i] - mean) * (p[i] - mean) / 20.0;
    for (int i = 0; i < 20; ++i)
      want.data_as<float>()[r * 20 + i] =
          float(s.data_as<float>()[r % 3] * (p[i] - mean) / std::sqrt(var + 1e-2) + b.data_as<float>()[r % 3]);
  }
  EXPECT_EQ(compare_tensors(out[0], want, 1e-6, 1e-5), "");
  // Hand check: one instance {0, 2}: mean 1, variance 1 → {−1, 1}·2 + 3 with eps 0.
  out = run_op("InstanceNormalization", {make_f32({1, 1, 2}, {0, 2}), make_f32({1}, {2}), make_f32({1}, {3})}, 1,
               [](onnx::NodeProto& n) { attr(n, "epsilon", 0.f); }, 6);
  EXPECT_EQ(compare_tensors(out[0], make_f32({1, 1, 2}, {1, 5}), 1e-7, 1e-6), "");
}

TEST(InstanceNormalization, Errors) {
  Tensor x = random_f32({2, 3, 4}, 1);
  expect_error([&] { run_op("InstanceNormalization", {x, random_f32({4}, 2), random_f32({3}, 3)}, 1); }, "3 channels");
  expect_error([&] { run_op("InstanceNormalization", {x, random_f32({3}, 2), random_f32({3, 1}, 3)}, 1); }, "1-D");
}

// Naive LayerNormalization with Scale/B given over the normalized dims.
Tensor naive_layernorm(const Tensor& x, const Tensor& s, const Tensor* b, int64_t axis, float eps, Tensor* mean_out,
                       Tensor* inv_out) {
  const auto& xs = x.shape();
  int64_t rows = 1, D = 1;
  for (int64_t i = 0; i < int64_t(xs.size()); ++i) (i < axis ? rows : D) *= xs[i];
  Tensor y(DType::Float32, xs);
  for (int64_t r = 0; r < rows; ++r) {
    const float* p = x.data_as<float>() + r * D;
    double mean = 0, var = 0;
    for (int64_t i = 0; i < D; ++i) mean += p[i];
    mean /= D;
    for (int64_t i = 0; i < D; ++i) var += (p[i] - mean) * (p[i] - mean);
    var /= D;
    const double inv = 1 / std::sqrt(var + eps);
    for (int64_t i = 0; i < D; ++i) {
      const double bias = b ? b->data_as<float>()[i % b->numel()] : 0;
      y.data_as<float>()[r * D + i] = float((p[i] - mean) * inv * s.data_as<float>()[i % s.numel()] + bias);
    }
    if (mean_out) mean_out->data_as<float>()[r] = float(mean);
    if (inv_out) inv_out->data_as<float>()[r] = float(inv);
  }
  return y;
}

TEST(LayerNormalization, EveryAxisIncludingNegative) {
  const std::vector<int64_t> xs = {2, 3, 4};
  Tensor x = random_f32(xs, 1, -3, 3);
  for (int64_t axis = -3; axis < 3; ++axis) {
    const int64_t a = axis < 0 ? axis + 3 : axis;
    std::vector<int64_t> norm(xs.begin() + a, xs.end()), stat = xs;
    for (int64_t k = a; k < 3; ++k) stat[k] = 1;
    Tensor s = random_f32(norm, 2), b = random_f32(norm, 3);
    Tensor want_mean(DType::Float32, stat), want_inv(DType::Float32, stat);
    Tensor want = naive_layernorm(x, s, &b, a, 1e-3f, &want_mean, &want_inv);
    auto out = run_op("LayerNormalization", {x, s, b}, 3, [&](onnx::NodeProto& n) {
      attr(n, "axis", axis);
      attr(n, "epsilon", 1e-3f);
    });
    EXPECT_EQ(compare_tensors(out[0], want, 1e-6, 1e-5), "") << "axis " << axis;
    EXPECT_EQ(out[1].shape(), stat);
    EXPECT_EQ(compare_tensors(out[1], want_mean, 1e-6, 1e-5), "") << "axis " << axis;
    EXPECT_EQ(compare_tensors(out[2], want_inv, 1e-6, 1e-5), "") << "axis " << axis;
  }
}

TEST(LayerNormalization, ScaleBroadcastAndNoBias) {
  Tensor x = random_f32({2, 3, 4}, 1, -3, 3);
  // Scale [1, 4] broadcasts over rows; no B.
  Tensor s = random_f32({1, 4}, 2);
  auto out = run_op("LayerNormalization", {x, s}, 1);
  Tensor want = naive_layernorm(x, s.reshaped({4}), nullptr, 2, 1e-5f, nullptr, nullptr);
  EXPECT_EQ(compare_tensors(out[0], want, 1e-6, 1e-5), "");
  // Scale [1] (scalar-like) and a B that varies along a non-normalized dim: B [3, 1]
  // with axis −1 gives each row (n, c) the bias B[c].
  Tensor one = make_f32({1}, {2}), b = make_f32({3, 1}, {10, 20, 30});
  out = run_op("LayerNormalization", {x, one, b}, 1);
  Tensor base = naive_layernorm(x, one, nullptr, 2, 1e-5f, nullptr, nullptr);
  for (int64_t i = 0; i < 24; ++i) base.data_as<float>()[i] += 10.f * float((i / 4) % 3 + 1);
  EXPECT_EQ(compare_tensors(out[0], base, 1e-6, 1e-5), "");
}

TEST(LayerNormalization, Float64AndErrors) {
  Tensor x(DType::Float64, {1, 2}), s(DType::Float64, {2});
  x.data_as<double>()[0] = 1;
  x.data_as<double>()[1] = 3;
  s.data_as<double>()[0] = s.data_as<double>()[1] = 1;
  auto out = run_op("LayerNormalization", {x, s}, 2, [](onnx::NodeProto& n) { attr(n, "epsilon", 0.f); });
  ASSERT_EQ(out[0].dtype(), DType::Float64);
  EXPECT_DOUBLE_EQ(out[0].data_as<double>()[0], -1);
  EXPECT_DOUBLE_EQ(out[0].data_as<double>()[1], 1);
  EXPECT_EQ(out[1].dtype(), DType::Float32);  // Mean follows stash_type (float32)

  Tensor xf = random_f32({2, 3}, 1);
  expect_error([&] { run_op("LayerNormalization", {xf, random_f32({3}, 2)}, 1, [](onnx::NodeProto& n) {
                 attr(n, "axis", int64_t(2));
               }); }, "out of range");
  expect_error([&] { run_op("LayerNormalization", {xf, random_f32({3}, 2)}, 1, [](onnx::NodeProto& n) {
                 attr(n, "axis", int64_t(-3));
               }); }, "out of range");
  expect_error([&] { run_op("LayerNormalization", {xf, random_f32({4}, 2)}, 1); }, "does not broadcast");
  expect_error([&] { run_op("LayerNormalization", {xf, random_f32({3}, 2)}, 1, [](onnx::NodeProto& n) {
                 attr(n, "stash_type", int64_t(11));
               }); }, "stash_type");
  // LayerNormalization exists from opset 17.
  expect_error([&] { run_op("LayerNormalization", {xf, random_f32({3}, 2)}, 1, {}, 16); }, "LayerNormalization");
}

}  // namespace
}  // namespace kiln::test
