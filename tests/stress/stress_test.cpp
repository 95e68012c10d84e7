// Concurrent load: one session run from 8 threads thousands of times, and two
// sessions of different models at once. Every output must be bit-identical to
// what a serial run of the same session gives for the same input.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <thread>

#include "support/model_builder.h"
#include "support/test_util.h"

namespace kiln::test {
namespace {

// Runs per caller thread; KILN_STRESS_RUNS scales it (e.g. down under TSan).
int runs_per_thread(int fallback) {
  const char* env = std::getenv("KILN_STRESS_RUNS");
  return env ? std::max(1, std::atoi(env)) : fallback;
}

// A small residual CNN: Conv → Relu → Conv → +skip → Relu → MaxPool →
// GlobalAveragePool → Flatten → Gemm → Softmax, dynamic batch. With fusion on
// the session runs fused Conv epilogues.
ModelBuilder cnn() {
  ModelBuilder b;
  b.input("x", DType::Float32, {-1, 3, 16, 16});
  b.initializer("w1", random_f32({8, 3, 3, 3}, 11, -0.5f, 0.5f));
  b.initializer("b1", random_f32({8}, 12));
  b.initializer("w2", random_f32({8, 8, 3, 3}, 13, -0.3f, 0.3f));
  b.initializer("b2", random_f32({8}, 14));
  b.initializer("wf", random_f32({10, 8}, 15));
  b.initializer("bf", random_f32({10}, 16));
  attr(b.node("Conv", {"x", "w1", "b1"}, {"c1"}), "pads", std::vector<int64_t>{1, 1, 1, 1});
  b.node("Relu", {"c1"}, {"r1"});
  attr(b.node("Conv", {"r1", "w2", "b2"}, {"c2"}), "pads", std::vector<int64_t>{1, 1, 1, 1});
  b.node("Add", {"c2", "r1"}, {"s"});
  b.node("Relu", {"s"}, {"r2"});
  auto& mp = b.node("MaxPool", {"r2"}, {"p"});
  attr(mp, "kernel_shape", std::vector<int64_t>{2, 2});
  attr(mp, "strides", std::vector<int64_t>{2, 2});
  b.node("GlobalAveragePool", {"p"}, {"g"});
  b.node("Flatten", {"g"}, {"f"});
  attr(b.node("Gemm", {"f", "wf", "bf"}, {"z"}), "transB", int64_t{1});
  b.node("Softmax", {"z"}, {"y"});
  b.output("y").output("p");
  return b;
}

// A token-mixing block: MatMul → LayerNormalization → x·sigmoid(x) →
// Transpose → MatMul → ReduceMean, input [N, 8, 16].
ModelBuilder mlp() {
  ModelBuilder b;
  b.input("x", DType::Float32, {-1, 8, 16});
  b.initializer("w1", random_f32({16, 32}, 21, -0.4f, 0.4f));
  b.initializer("gamma", random_f32({32}, 22, 0.5f, 1.5f));
  b.initializer("beta", random_f32({32}, 23));
  b.initializer("w2", random_f32({8, 8}, 24));
  b.initializer("axes", make_i64({1}, {2}));
  b.node("MatMul", {"x", "w1"}, {"h"});
  b.node("LayerNormalization", {"h", "gamma", "beta"}, {"n"});
  b.node("Sigmoid", {"n"}, {"sg"});
  b.node("Mul", {"n", "sg"}, {"a"});
  attr(b.node("Transpose", {"a"}, {"t"}), "perm", std::vector<int64_t>{0, 2, 1});
  b.node("MatMul", {"t", "w2"}, {"m"});
  attr(b.node("ReduceMean", {"m", "axes"}, {"y"}), "keepdims", int64_t{0});
  b.output("y").output("a");
  b.proto().mutable_opset_import(0)->set_version(18);  // ReduceMean takes axes as an input
  return b;
}

bool identical(const std::vector<Tensor>& a, const std::vector<Tensor>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (a[i].dtype() != b[i].dtype() || a[i].shape() != b[i].shape() ||
        std::memcmp(a[i].data(), b[i].data(), a[i].nbytes()) != 0)
      return false;
  return true;
}

struct Workload {
  Session session;
  std::vector<std::vector<Tensor>> inputs, expected;
  std::atomic<int> runs{0}, mismatches{0}, errors{0};

  Workload(Session s, int distinct, const std::function<Tensor(int)>& make) : session(std::move(s)) {
    for (int i = 0; i < distinct; ++i) {
      inputs.push_back({make(i)});
      expected.push_back(session.run(inputs.back()));  // serial answers
    }
  }
  // Thread t runs `n` times, stepping through the inputs in its own order.
  void hammer(int t, int n) {
    for (int r = 0; r < n; ++r) {
      size_t k = (static_cast<size_t>(t) * 7919 + static_cast<size_t>(r) * 31) % inputs.size();
      try {
        if (!identical(session.run(inputs[k]), expected[k])) ++mismatches;
      } catch (const std::exception&) {
        ++errors;
      }
      ++runs;
    }
  }
};

Tensor cnn_input(int i) { return random_f32({1 + i % 3, 3, 16, 16}, 1000 + i); }
Tensor mlp_input(int i) { return random_f32({1 + i % 4, 8, 16}, 2000 + i, -2.f, 2.f); }

TEST(Stress, OneSessionEightThreads) {
  SessionOptions o;
  o.threads = 2;
  Workload w(cnn().session(o), 96, cnn_input);
  // The serial answers agree with the unfused graph (so they are right, not
  // merely repeatable).
  SessionOptions plain = o;
  plain.fusion = false;
  Session unfused = cnn().session(plain);
  for (size_t k = 0; k < w.inputs.size(); k += 8) {
    auto ref = unfused.run(w.inputs[k]);
    for (size_t i = 0; i < ref.size(); ++i) EXPECT_EQ(compare_tensors(w.expected[k][i], ref[i], 1e-5, 1e-4), "");
  }

  constexpr int kThreads = 8;
  const int n = runs_per_thread(400);
  auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> pool;
  for (int t = 0; t < kThreads; ++t) pool.emplace_back([&, t] { w.hammer(t, n); });
  for (auto& th : pool) th.join();
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("stress: %d runs on %d threads in %.1f s, %d mismatches, %d errors\n", w.runs.load(), kThreads, s,
              w.mismatches.load(), w.errors.load());
  EXPECT_EQ(w.runs.load(), kThreads * n);
  EXPECT_EQ(w.mismatches.load(), 0);
  EXPECT_EQ(w.errors.load(), 0);
}

TEST(Stress, TwoSessionsOfDifferentModelsAtOnce) {
  SessionOptions o;
  o.threads = 2;
  Workload a(cnn().session(o), 48, cnn_input);
  o.threads = 1;
  Workload b(mlp().session(o), 48, mlp_input);
  const int n = runs_per_thread(400) / 2;
  std::vector<std::thread> pool;
  for (int t = 0; t < 4; ++t) {
    pool.emplace_back([&, t] { a.hammer(t, n); });
    pool.emplace_back([&, t] { b.hammer(t, n); });
  }
  for (auto& th : pool) th.join();
  std::printf("stress: %d + %d runs of two sessions on 8 threads, %d + %d mismatches\n", a.runs.load(), b.runs.load(),
              a.mismatches.load(), b.mismatches.load());
  EXPECT_EQ(a.mismatches.load() + b.mismatches.load(), 0);
  EXPECT_EQ(a.errors.load() + b.errors.load(), 0);
}

// CNNs exported from PyTorch at build time (skipped when the build could not
// export models), 8 caller threads on one 2-thread session, every output
// checked: MobileNetV3-small (depthwise, pointwise and first-layer kernels,
// squeeze-excite) and ResNet-18 (Winograd, the transposed GEMM on 7² maps).
// KILN_MODELS_DIR (environment) points a sanitizer build at the release
// build's exports.
void stress_real_cnn(const std::string& name, int runs_divisor) {
  const char* env = std::getenv("KILN_MODELS_DIR");
  const std::string root = env && *env ? env : KILN_MODELS_DIR;
  const std::string path = root + "/" + name + "_bn_kept/model.onnx";
  if (!std::filesystem::exists(path)) GTEST_SKIP() << path << " was not exported";
  SessionOptions o;
  o.threads = 2;  // parallel kernels inside each of the 8 concurrent runs
  Session s = Session::load(path, o);
  const auto& info = s.inputs().at(0);
  std::vector<int64_t> shape = info.shape;
  for (int64_t& d : shape) d = d < 0 ? 1 : d;
  Workload w(std::move(s), 8, [&](int i) { return random_f32(shape, 3000 + i); });
  constexpr int kThreads = 8;
  const int n = std::max(1, runs_per_thread(400) / runs_divisor);
  std::vector<std::thread> pool;
  for (int t = 0; t < kThreads; ++t) pool.emplace_back([&, t] { w.hammer(t, n); });
  for (auto& th : pool) th.join();
  std::printf("stress: %d %s runs on %d threads, %d mismatches, %d errors\n", w.runs.load(), name.c_str(), kThreads,
              w.mismatches.load(), w.errors.load());
  EXPECT_EQ(w.mismatches.load(), 0);
  EXPECT_EQ(w.errors.load(), 0);
}

TEST(Stress, RealCnnEightThreads) { stress_real_cnn("mobilenet_v3_small", 50); }

TEST(Stress, ResNet18EightThreads) { stress_real_cnn("resnet18", 100); }

TEST(Stress, ManySessionsOfOneModelCreatedAndRunConcurrently) {
  // Sessions share no mutable state: each thread loads its own session of the
  // same bytes while others run theirs.
  const std::string bytes = mlp().bytes();
  Tensor x = mlp_input(3);
  auto want = Session::load_from_bytes(bytes.data(), bytes.size()).run({x});
  std::atomic<int> mismatches{0};
  std::vector<std::thread> pool;
  for (int t = 0; t < 8; ++t)
    pool.emplace_back([&] {
      for (int r = 0; r < 10; ++r) {
        SessionOptions o;
        o.threads = 1 + r % 2;
        Session s = Session::load_from_bytes(bytes.data(), bytes.size(), o);
        if (!identical(s.run({x}), want)) ++mismatches;
      }
    });
  for (auto& th : pool) th.join();
  EXPECT_EQ(mismatches.load(), 0);
}

}  // namespace
}  // namespace kiln::test
