// One Session shared by many threads: every concurrent run must give exactly
// what a serial run gives for the same inputs.
#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <stdexcept>
#include <thread>
#include <vector>

#include "runtime/parallel.h"
#include "support/model_builder.h"
#include "support/test_util.h"

namespace kiln::test {
namespace {

// x [N, 5] (N free), bias-free chain: r1 = Relu(x), r2 = Relu(r1), plus a
// Constant output and a Relu of an initializer, so that inputs, intermediates
// and constants are all in play.
Session multi_node_session(int threads) {
  ModelBuilder b;
  b.input("x", DType::Float32, {-1, 5});
  b.input("z", DType::Float32, {3});
  b.initializer("w", make_f32({4}, {-1, 2, -3, 4}));
  attr(b.node("Constant", {}, {"c"}), "value_floats", std::vector<float>{0.5f, -0.5f});
  b.node("Relu", {"x"}, {"r1"});
  b.node("Relu", {"r1"}, {"r2"});
  b.node("Relu", {"z"}, {"rz"});
  b.node("Relu", {"w"}, {"rw"});
  b.node("Relu", {"c"}, {"rc"});
  b.output("r2").output("rz").output("rw").output("rc").output("r1");
  SessionOptions o;
  o.threads = threads;
  return b.session(o);
}

bool same(const Tensor& a, const Tensor& b) {
  return a.dtype() == b.dtype() && a.shape() == b.shape() && std::memcmp(a.data(), b.data(), a.nbytes()) == 0;
}

TEST(Concurrency, EightThreadsMatchSerialRuns) {
  constexpr int kThreads = 8, kRunsPerThread = 200, kDistinct = 64;
  Session s = multi_node_session(2);

  // Distinct inputs (different batch sizes too) and their serial answers.
  std::vector<std::vector<Tensor>> inputs, expected;
  for (int i = 0; i < kDistinct; ++i) {
    inputs.push_back({random_f32({1 + i % 7, 5}, 100 + i), random_f32({3}, 900 + i)});
    expected.push_back(s.run(inputs.back()));
  }
  // Sanity: the serial answers are right, not merely repeatable.
  for (int i = 0; i < kDistinct; ++i) {
    const Tensor& x = inputs[i][0];
    for (int64_t k = 0; k < x.numel(); ++k)
      ASSERT_EQ(expected[i][0].data_as<float>()[k], std::max(0.0f, x.data_as<float>()[k]));
  }

  std::atomic<int> mismatches{0}, errors{0};
  std::vector<std::thread> pool;
  for (int t = 0; t < kThreads; ++t) {
    pool.emplace_back([&, t] {
      for (int r = 0; r < kRunsPerThread; ++r) {
        int i = (t * 37 + r * 11) % kDistinct;  // each thread walks the inputs in its own order
        try {
          auto out = s.run(inputs[i]);
          if (out.size() != expected[i].size()) { ++mismatches; continue; }
          for (size_t k = 0; k < out.size(); ++k)
            if (!same(out[k], expected[i][k])) ++mismatches;
        } catch (...) {
          ++errors;
        }
      }
    });
  }
  for (auto& th : pool) th.join();
  EXPECT_EQ(mismatches.load(), 0);
  EXPECT_EQ(errors.load(), 0);
}

TEST(Concurrency, SessionsWithDifferentThreadCountsAgree) {
  Session one = multi_node_session(1), four = multi_node_session(4);
  for (int i = 0; i < 8; ++i) {
    std::vector<Tensor> in{random_f32({3, 5}, i), random_f32({3}, 50 + i)};
    auto a = one.run(in), b = four.run(in);
    ASSERT_EQ(a.size(), b.size());
    for (size_t k = 0; k < a.size(); ++k) EXPECT_TRUE(same(a[k], b[k])) << "output " << k;
  }
}

TEST(Concurrency, ErrorsInOneThreadDoNotDisturbOthers) {
  Session s = multi_node_session(2);
  std::vector<Tensor> good{random_f32({2, 5}, 1), random_f32({3}, 2)};
  std::vector<Tensor> bad{random_f32({2, 6}, 1), random_f32({3}, 2)};
  auto want = s.run(good);
  std::atomic<int> wrong{0};
  std::vector<std::thread> pool;
  for (int t = 0; t < 8; ++t) {
    pool.emplace_back([&, t] {
      for (int r = 0; r < 100; ++r) {
        if ((t + r) % 2) {
          try {
            s.run(bad);
            ++wrong;
          } catch (const Error&) {
          }
        } else {
          auto out = s.run(good);
          for (size_t k = 0; k < out.size(); ++k)
            if (!same(out[k], want[k])) ++wrong;
        }
      }
    });
  }
  for (auto& th : pool) th.join();
  EXPECT_EQ(wrong.load(), 0);
}

// The run region (runtime/parallel.h): many loops of different sizes in one
// region, on an arena of 2 and 3 threads, cover every index exactly once,
// with the same chunk boundaries as without a region; loops inside a chunk
// run inline; an exception in a chunk reaches the caller and the region stays
// usable; regions started one after another and side by side from several
// threads (each in its own arena) do not disturb each other.
TEST(Concurrency, RunRegionLoopsCoverEveryIndexOnce) {
  for (int threads : {2, 3}) {
    runtime::Arena arena(threads);
    arena.execute([&] {
      const runtime::RunRegion region;
      for (int64_t n : {1, 2, 3, 7, 64, 1000, 4097}) {
        for (int rep = 0; rep < 50; ++rep) {
          std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
          std::atomic<int> chunks{0};
          runtime::parallel_for(n, 1, [&](int64_t b, int64_t e) {
            ++chunks;
            // Inside a chunk of the region (n > 1; a loop of one index runs
            // inline outside any chunk) a nested loop runs inline, on this
            // thread, over its whole range.
            const std::thread::id me = std::this_thread::get_id();
            if (n > 1)
              runtime::parallel_for(4, 1, [&](int64_t nb, int64_t ne) {
                EXPECT_EQ(std::this_thread::get_id(), me);
                EXPECT_EQ(nb, 0);
                EXPECT_EQ(ne, 4);
              });
            for (int64_t i = b; i < e; ++i) hits[static_cast<size_t>(i)]++;
          });
          for (int64_t i = 0; i < n; ++i) ASSERT_EQ(hits[static_cast<size_t>(i)].load(), 1) << "n " << n << " i " << i;
          EXPECT_EQ(chunks.load(), std::min<int64_t>(threads, n));
        }
      }
    });
  }
}

TEST(Concurrency, RunRegionPassesExceptionsAndStaysUsable) {
  runtime::Arena arena(2);
  arena.execute([&] {
    const runtime::RunRegion region;
    for (int rep = 0; rep < 20; ++rep) {
      EXPECT_THROW(runtime::parallel_for(100, 1,
                                         [&](int64_t b, int64_t) {
                                           if (b > 0) throw std::runtime_error("chunk failed");
                                         }),
                   std::runtime_error);
      std::atomic<int64_t> sum{0};
      runtime::parallel_for(100, 1, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) sum += i;
      });
      EXPECT_EQ(sum.load(), 99 * 100 / 2);
    }
  });
}

TEST(Concurrency, RunRegionsOnManyThreads) {
  std::vector<std::thread> pool;
  std::atomic<int> wrong{0};
  for (int t = 0; t < 4; ++t)
    pool.emplace_back([&] {
      runtime::Arena arena(2);
      for (int r = 0; r < 20; ++r)
        arena.execute([&] {
          const runtime::RunRegion region;
          for (int loop = 0; loop < 10; ++loop) {
            std::atomic<int64_t> sum{0};
            runtime::parallel_for(257, 1, [&](int64_t b, int64_t e) {
              for (int64_t i = b; i < e; ++i) sum += i;
            });
            if (sum.load() != 256 * 257 / 2) ++wrong;
          }
        });
    });
  for (auto& th : pool) th.join();
  EXPECT_EQ(wrong.load(), 0);
}

}  // namespace
}  // namespace kiln::test
