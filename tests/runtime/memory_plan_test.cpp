// Memory planning: arena layout, runs that allocate no tensors once a plan
// exists for their input shapes, in-place and view lifetimes, and profiles.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <thread>

#include "core/tensor_stats.h"
#include "runtime/executor.h"
#include "runtime/memory_plan.h"
#include "support/model_builder.h"
#include "support/test_util.h"

namespace kiln::test {
namespace {

using runtime::BufferRequest;
using runtime::plan_arena;

bool same(const Tensor& a, const Tensor& b) {
  return a.dtype() == b.dtype() && a.shape() == b.shape() && std::memcmp(a.data(), b.data(), a.nbytes()) == 0;
}

TEST(ArenaLayout, BuffersAliveTogetherNeverOverlap) {
  std::mt19937 rng(7);
  for (int trial = 0; trial < 50; ++trial) {
    std::vector<BufferRequest> req;
    int n = 1 + static_cast<int>(rng() % 60);
    for (int i = 0; i < n; ++i) {
      int first = static_cast<int>(rng() % 40);
      req.push_back({1 + rng() % 5000, first, first + static_cast<int>(rng() % 10)});
    }
    auto layout = plan_arena(req);
    ASSERT_EQ(layout.offsets.size(), req.size());
    size_t sum = 0;
    for (int i = 0; i < n; ++i) {
      sum += (req[i].bytes + 63) / 64 * 64;
      EXPECT_EQ(layout.offsets[i] % runtime::kArenaAlignment, 0u);
      EXPECT_LE(layout.offsets[i] + req[i].bytes, layout.total);
      for (int j = 0; j < i; ++j) {
        bool live_together = req[i].first <= req[j].last && req[j].first <= req[i].last;
        bool disjoint = layout.offsets[i] + req[i].bytes <= layout.offsets[j] ||
                        layout.offsets[j] + req[j].bytes <= layout.offsets[i];
        if (live_together) EXPECT_TRUE(disjoint) << "trial " << trial << ": buffers " << i << " and " << j;
      }
    }
    EXPECT_LE(layout.total, sum);
  }
}

TEST(ArenaLayout, ChainReusesMemory) {
  // a → b → c → d, each dying at the next step: two slots suffice.
  std::vector<BufferRequest> req = {{1000, 0, 1}, {1000, 1, 2}, {1000, 2, 3}, {1000, 3, 4}};
  auto layout = plan_arena(req);
  EXPECT_EQ(layout.total, 2 * 1024u);
  EXPECT_EQ(layout.offsets[0], layout.offsets[2]);
  EXPECT_EQ(layout.offsets[1], layout.offsets[3]);
}

TEST(ArenaLayout, BestFitTakesTheSmallestGap) {
  // Placed largest first: A@0, H1@4096, B@6144, H2@7680, C@8704. H1 and H2
  // die after step 1, leaving holes of 2048 and 1024 bytes; a 500-byte
  // buffer alive at steps 5..6 goes into the tighter hole, not the lower one.
  std::vector<BufferRequest> req = {
      {4096, 0, 9}, {2048, 0, 1}, {1536, 0, 9}, {1024, 0, 1}, {512, 0, 9}, {500, 5, 6}};
  auto layout = plan_arena(req);
  EXPECT_EQ(layout.offsets[0], 0u);
  EXPECT_EQ(layout.offsets[1], 4096u);
  EXPECT_EQ(layout.offsets[2], 6144u);
  EXPECT_EQ(layout.offsets[3], 7680u);
  EXPECT_EQ(layout.offsets[4], 8704u);
  EXPECT_EQ(layout.offsets[5], 7680u);
  EXPECT_EQ(layout.total, 9216u);
}

// Conv → Relu → Add(relu, x) → Sigmoid → Reshape → Mul(view, view) with
// fusion off, so elementwise in-place, views and a graph output made by an
// elementwise op are all in play.
Session chain_session(bool fusion, int threads = 1, bool memory_plan = true) {
  ModelBuilder b;
  b.input("x", DType::Float32, {-1, 4, 8, 8});
  b.initializer("w", random_f32({4, 4, 3, 3}, 11));
  b.initializer("shape", make_i64({2}, {-1, 256}));
  attr(b.node("Conv", {"x", "w"}, {"c"}), "pads", std::vector<int64_t>{1, 1, 1, 1});
  b.node("Relu", {"c"}, {"r"});
  b.node("Add", {"r", "x"}, {"a"});
  b.node("Sigmoid", {"a"}, {"s"});
  b.node("Reshape", {"s", "shape"}, {"v"});
  b.node("Exp", {"s"}, {"e"});         // s is still viewed by v after this: no in-place over s
  b.node("Reshape", {"e", "shape"}, {"ev"});
  b.node("Mul", {"v", "ev"}, {"m"});
  b.node("Neg", {"m"}, {"out"});
  b.output("out").output("a");
  SessionOptions o;
  o.fusion = fusion;
  o.threads = threads;
  o.memory_plan = memory_plan;
  return b.session(o);
}

std::vector<Tensor> expected_chain(const Tensor& x, const std::vector<Tensor>& out) {
  // out[1] is "a" (checked against the heap run); recompute "out" from it.
  const Tensor& a = out[1];
  Tensor want(DType::Float32, {x.shape()[0], 256});
  for (int64_t i = 0; i < a.numel(); ++i) {
    float s = 1.f / (1.f + std::exp(-a.data_as<float>()[i]));
    want.data_as<float>()[i] = -(s * std::exp(s));
  }
  return {want};
}

TEST(MemoryPlan, SecondRunAllocatesOnlyGraphOutputs) {
  for (bool fusion : {false, true}) {
    Session s = chain_session(fusion);
    Tensor x = random_f32({2, 4, 8, 8}, 3);
    std::vector<Tensor> first = s.run({x});  // records and plans
    uint64_t tensors0 = detail::tensor_storage_allocations();
    uint64_t arenas0 = runtime::Executor::arena_allocations();
    std::vector<Tensor> second = s.run({x});  // takes the arena
    uint64_t tensors1 = detail::tensor_storage_allocations();
    uint64_t arenas1 = runtime::Executor::arena_allocations();
    EXPECT_EQ(arenas1 - arenas0, 1u) << "fusion " << fusion << ": the first planned run allocates its arena";
    EXPECT_EQ(tensors1 - tensors0, 2u) << "fusion " << fusion << ": only the two graph outputs";
    std::vector<Tensor> third = s.run({x});
    EXPECT_EQ(runtime::Executor::arena_allocations(), arenas1) << "the arena is reused";
    EXPECT_EQ(detail::tensor_storage_allocations() - tensors1, 2u);
    for (size_t k = 0; k < first.size(); ++k) {
      EXPECT_TRUE(same(first[k], second[k])) << "output " << k;
      EXPECT_TRUE(same(first[k], third[k])) << "output " << k;
    }
    std::vector<Tensor> want = expected_chain(x, first);
    EXPECT_EQ(compare_tensors(second[0], want[0], 1e-6, 1e-5), "");
    // Outputs are the caller's: the next run must not change them.
    Tensor keep = second[0].clone();
    s.run({random_f32({2, 4, 8, 8}, 4)});
    EXPECT_TRUE(same(second[0], keep));
  }
}

// Slices of a contiguous channel range are views of their input (no copy):
// r = Relu(x); left, right = r[:, :4], r[:, 4:]; sum = -left + exp(right).
// With one image the slices are views (left at r's start, right inside it);
// with two they are strided and copied. Without Sigmoid(r) the slices are
// r's last readers, so only the views keep r's memory from being handed to
// Neg's output before Exp reads `right`; with it, Sigmoid may overwrite r in
// place once the views are dead. Either way the answers are exact.
TEST(MemoryPlan, SliceViewsOfTheirInputStayCorrect) {
  for (bool sigmoid : {false, true}) {
    ModelBuilder b(13);
    b.input("x", DType::Float32, {-1, 8, 6, 6});
    b.initializer("s0", make_i64({1}, {0}));
    b.initializer("s4", make_i64({1}, {4}));
    b.initializer("s8", make_i64({1}, {8}));
    b.initializer("ax1", make_i64({1}, {1}));
    b.node("Relu", {"x"}, {"r"});
    b.node("Slice", {"r", "s0", "s4", "ax1"}, {"left"});
    b.node("Slice", {"r", "s4", "s8", "ax1"}, {"right"});
    b.node("Neg", {"left"}, {"nl"});
    b.node("Exp", {"right"}, {"er"});
    b.node("Add", {"nl", "er"}, {"sum"});
    b.output("sum");
    if (sigmoid) {
      b.node("Sigmoid", {"r"}, {"sr"});
      b.node("Slice", {"sr", "s4", "s8", "ax1"}, {"sr_right"});  // a view as a graph output: copied
      b.output("sr").output("sr_right");
    }
    for (bool plan : {true, false})
      for (int64_t n : {1, 2, 1}) {
        SessionOptions o;
        o.memory_plan = plan;
        Session s = b.session(o);
        const Tensor x = random_f32({n, 8, 6, 6}, static_cast<uint32_t>(20 + n));
        for (int rep = 0; rep < 2; ++rep) {
          const std::vector<Tensor> y = s.run({x});
          ASSERT_EQ(y.size(), sigmoid ? 3u : 1u);
          const float* xp = x.data_as<float>();
          auto relu = [](float v) { return v > 0.f ? v : 0.f; };
          auto sig = [](float v) { return 1.f / (1.f + std::exp(-v)); };
          const int64_t plane = 36;
          for (int64_t i = 0; i < n; ++i)
            for (int64_t c = 0; c < 4; ++c)
              for (int64_t k = 0; k < plane; ++k) {
                const float l = relu(xp[(i * 8 + c) * plane + k]), r = relu(xp[(i * 8 + c + 4) * plane + k]);
                const int64_t at = (i * 4 + c) * plane + k;
                ASSERT_NEAR(y[0].data_as<float>()[at], -l + std::exp(r), 1e-5f)
                    << "sigmoid " << sigmoid << " plan " << plan << " n " << n << " rep " << rep;
                if (sigmoid) ASSERT_NEAR(y[2].data_as<float>()[at], sig(r), 1e-6f) << "plan " << plan << " n " << n;
              }
          if (sigmoid)
            for (int64_t k = 0; k < x.numel(); ++k) ASSERT_NEAR(y[1].data_as<float>()[k], sig(relu(xp[k])), 1e-6f);
        }
      }
  }
}

// The view inside r (not at its start) is r's only reader after the Slice:
// r's memory must stay reserved until the last read of `right`, or xz
// (r's size, computed after the Slice and before that read) would be planned
// over it.
TEST(MemoryPlan, AViewInsideItsInputKeepsTheInputAlive) {
  ModelBuilder b(13);
  b.input("x", DType::Float32, {1, 8, 6, 6});
  b.initializer("s4", make_i64({1}, {4}));
  b.initializer("s8", make_i64({1}, {8}));
  b.initializer("ax1", make_i64({1}, {1}));
  b.initializer("zero", make_f32({1}, {0.f}));
  b.node("Relu", {"x"}, {"r"});
  b.node("Slice", {"r", "s4", "s8", "ax1"}, {"right"});
  // xz = x + 0·Σ right: r's size, and computed only after the Slice.
  b.node("ReduceSum", {"right"}, {"sum_right"});
  b.node("Mul", {"sum_right", "zero"}, {"no_change"});
  b.node("Add", {"x", "no_change"}, {"xz"});
  b.node("Tanh", {"xz"}, {"t"});
  // er = exp(right + 0·Σ t): reads `right` only after t exists.
  b.node("ReduceSum", {"t"}, {"sum_t"});
  b.node("Mul", {"sum_t", "zero"}, {"no_change_t"});
  b.node("Add", {"right", "no_change_t"}, {"right_again"});
  b.node("Exp", {"right_again"}, {"er"});
  b.node("Mul", {"t", "t"}, {"t2"});
  b.output("er").output("t2");
  Session s = b.session();
  const Tensor x = random_f32({1, 8, 6, 6}, 31);
  for (int rep = 0; rep < 3; ++rep) {  // the first run records, the next ones use the plan
    const std::vector<Tensor> y = s.run({x});
    const float* xp = x.data_as<float>();
    for (int64_t k = 0; k < 4 * 36; ++k) {
      const float v = xp[4 * 36 + k];
      ASSERT_NEAR(y[0].data_as<float>()[k], std::exp(v > 0.f ? v : 0.f), 1e-5f) << "rep " << rep << " k " << k;
    }
  }
}

// Concatenations along channels of one image: inputs that die at the Concat
// are planned inside its output (their producers write them there), chains
// of concatenations nest (DenseNet), and inputs that are graph inputs,
// constants, live on after the Concat or appear twice are copied as before.
// The planned runs must give exactly the heap runs' bits, for one image
// (where inputs go in place) and two (where they cannot).
TEST(MemoryPlan, ConcatInputsWrittenInPlaceGiveTheSameBits) {
  // middle: the Concat input between two in-place ones, a constant (one image
  // only) or a second graph input.
  for (bool constant_middle : {true, false}) {
    ModelBuilder b(13);
    b.input("x", DType::Float32, {-1, 4, 10, 10});
    if (constant_middle) b.initializer("k", random_f32({1, 2, 10, 10}, 54));
    else b.input("k", DType::Float32, {-1, 2, 10, 10});
    b.initializer("w1", random_f32({6, 4, 3, 3}, 51));
    b.initializer("w2", random_f32({5, 10, 1, 1}, 52));
    b.initializer("w3", random_f32({3, 15, 3, 3}, 53));
    const std::vector<int64_t> pads{1, 1, 1, 1};
    attr(b.node("Conv", {"x", "w1"}, {"f1"}), "pads", pads);
    attr(b.node("Concat", {"x", "f1"}, {"c1"}), "axis", int64_t{1});  // graph input first: copied; f1 in place
    b.node("Relu", {"c1"}, {"r1"});
    b.node("Conv", {"r1", "w2"}, {"f2"});
    attr(b.node("Concat", {"c1", "f2"}, {"c2"}), "axis", int64_t{1});  // c1 nested at the start of c2
    b.node("Sigmoid", {"c2"}, {"s2"});
    attr(b.node("Conv", {"s2", "w3"}, {"f3"}), "pads", pads);
    b.node("Neg", {"f3"}, {"n3"});
    b.node("Abs", {"f3"}, {"g3"});
    // k between two in-place inputs (f3, g3); n3 is read again after.
    attr(b.node("Concat", {"f3", "k", "g3", "n3"}, {"c3"}), "axis", int64_t{1});
    b.node("Add", {"n3", "n3"}, {"a3"});
    attr(b.node("Concat", {"a3", "a3"}, {"after"}), "axis", int64_t{1});  // one input twice: copied
    b.node("Tanh", {"c3"}, {"t3"});
    attr(b.node("Concat", {"c2", "t3"}, {"c4"}), "axis", int64_t{-3});
    // DenseNet: the block's last Concat holds d0, d1, d2; the layer's Concat
    // of d0, d1 is then the stretch of it they occupy.
    b.initializer("wd1", random_f32({3, 4, 3, 3}, 55));
    b.initializer("wd2", random_f32({2, 7, 3, 3}, 56));
    b.node("Relu", {"x"}, {"d0"});
    attr(b.node("Conv", {"d0", "wd1"}, {"d1"}), "pads", pads);
    attr(b.node("Concat", {"d0", "d1"}, {"l1"}), "axis", int64_t{1});
    attr(b.node("Conv", {"l1", "wd2"}, {"d2"}), "pads", pads);
    attr(b.node("Concat", {"d0", "d1", "d2"}, {"block"}), "axis", int64_t{1});
    b.node("Tanh", {"block"}, {"dense"});
    b.output("c4").output("after").output("dense");
    for (int64_t n : {int64_t{1}, int64_t{2}}) {
      if (constant_middle && n != 1) continue;
      std::vector<Tensor> inputs{random_f32({n, 4, 10, 10}, static_cast<uint32_t>(60 + n))};
      if (!constant_middle) inputs.push_back(random_f32({n, 2, 10, 10}, static_cast<uint32_t>(70 + n)));
      SessionOptions heap_options;
      heap_options.memory_plan = false;
      const std::vector<Tensor> want = b.session(heap_options).run(inputs);
      for (int threads : {1, 2}) {
        SessionOptions o;
        o.threads = threads;
        Session s = b.session(o);
        for (int rep = 0; rep < 3; ++rep) {  // the first run records; the next ones run the plan
          const std::vector<Tensor> got = s.run(inputs);
          ASSERT_EQ(got.size(), want.size());
          for (size_t k = 0; k < got.size(); ++k)
            EXPECT_TRUE(same(got[k], want[k])) << "constant " << constant_middle << " n " << n << " threads "
                                               << threads << " rep " << rep << " output " << k;
        }
      }
    }
  }
}

// Two Concats of the same inputs: along the channels (they are written in
// place into it) and along the rows, where the inputs' bytes back to back
// are not the output's layout — that one must copy, not be planned over
// the first.
TEST(MemoryPlan, AConcatAlongAnotherAxisIsNotAStretchOfTheChannelConcat) {
  ModelBuilder b(13);
  b.input("x", DType::Float32, {1, 4, 6, 6});
  b.initializer("wa", random_f32({2, 4, 1, 1}, 81));
  b.initializer("wb", random_f32({2, 4, 1, 1}, 82));
  b.node("Conv", {"x", "wa"}, {"a"});
  b.node("Conv", {"x", "wb"}, {"b"});
  attr(b.node("Concat", {"a", "b"}, {"rows"}), "axis", int64_t{2});
  b.node("Sigmoid", {"rows"}, {"y_rows"});
  attr(b.node("Concat", {"a", "b"}, {"channels"}), "axis", int64_t{1});
  b.node("Tanh", {"channels"}, {"y_channels"});
  b.output("y_rows").output("y_channels");
  const Tensor x = random_f32({1, 4, 6, 6}, 83);
  SessionOptions heap_options;
  heap_options.memory_plan = false;
  const std::vector<Tensor> want = b.session(heap_options).run({x});
  Session s = b.session();
  for (int rep = 0; rep < 3; ++rep) {
    const std::vector<Tensor> got = s.run({x});
    for (size_t k = 0; k < got.size(); ++k) EXPECT_TRUE(same(got[k], want[k])) << "rep " << rep << " output " << k;
  }
}

TEST(MemoryPlan, OffGivesTheSameResultsFromTheHeap) {
  Session planned = chain_session(false), heap = chain_session(false, 1, false);
  Tensor x = random_f32({2, 4, 8, 8}, 9);
  planned.run({x});
  uint64_t arenas0 = runtime::Executor::arena_allocations();
  for (int r = 0; r < 2; ++r) {
    std::vector<Tensor> a = planned.run({x}), b = heap.run({x});
    for (size_t k = 0; k < a.size(); ++k) EXPECT_TRUE(same(a[k], b[k])) << "output " << k;
  }
  uint64_t t0 = detail::tensor_storage_allocations();
  heap.run({x});
  EXPECT_GT(detail::tensor_storage_allocations() - t0, 2u) << "without a plan, intermediates come from the heap";
  EXPECT_EQ(runtime::Executor::arena_allocations() - arenas0, 1u);
}

TEST(MemoryPlan, NewShapesGetTheirOwnPlan) {
  Session s = chain_session(false);
  for (int64_t n : {1, 3, 1, 3, 2}) {
    Tensor x = random_f32({n, 4, 8, 8}, static_cast<uint32_t>(n));
    Session fresh = chain_session(false);
    std::vector<Tensor> want = fresh.run({x});  // a heap run
    std::vector<Tensor> got = s.run({x});
    for (size_t k = 0; k < want.size(); ++k) EXPECT_TRUE(same(got[k], want[k])) << "batch " << n << " output " << k;
  }
}

TEST(MemoryPlan, ConcurrentRunsEachGetAnArena) {
  Session s = chain_session(true, 2);
  std::vector<Tensor> xs, want;
  for (int i = 0; i < 4; ++i) {
    xs.push_back(random_f32({2, 4, 8, 8}, 50 + i));
    want.push_back(s.run({xs.back()})[0]);
  }
  std::atomic<int> bad{0};
  std::vector<std::thread> pool;
  for (int t = 0; t < 4; ++t)
    pool.emplace_back([&, t] {
      for (int r = 0; r < 100; ++r) {
        int i = (t + r) % 4;
        if (!same(s.run({xs[i]})[0], want[i])) ++bad;
      }
    });
  for (auto& th : pool) th.join();
  EXPECT_EQ(bad.load(), 0);
}

TEST(Profile, OneEntryPerNodeWithShapesAndFlops) {
  Session s = chain_session(false);
  Tensor x = random_f32({2, 4, 8, 8}, 3);
  std::vector<NodeProfile> p;
  std::vector<Tensor> out = s.run_profiled({x}, p);
  ASSERT_EQ(p.size(), 9u);
  EXPECT_EQ(p[0].op_type, "Conv");
  EXPECT_EQ(p[0].input_shapes.size(), 2u);
  EXPECT_EQ(p[0].input_shapes[0], (std::vector<int64_t>{2, 4, 8, 8}));
  EXPECT_EQ(p[0].output_shapes[0], (std::vector<int64_t>{2, 4, 8, 8}));
  EXPECT_FALSE(p[0].kernel.empty());
  // Flops come from the op's schema where it has a count, else 0.
  const ops::OpSchema* conv = ops::OpRegistry::instance().find("", "Conv", 17);
  ASSERT_NE(conv, nullptr);
  if (conv->flops) EXPECT_GT(p[0].flops, 0);
  else EXPECT_EQ(p[0].flops, 0);
  double previous_end = 0;
  for (const auto& n : p) {
    EXPECT_GE(n.duration_ms, 0);
    EXPECT_GE(n.start_ms + 1e-9, previous_end) << n.op_type;
    previous_end = n.start_ms + n.duration_ms;
  }
  EXPECT_TRUE(same(out[0], s.run({x})[0]));
}

}  // namespace
}  // namespace kiln::test
