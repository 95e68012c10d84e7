// MaxPool, AveragePool, GlobalMaxPool, GlobalAveragePool: hand-computed edge
// cases (ceil_mode, pads, dilations, count_include_pad, auto_pad, Indices with
// storage_order), a randomized sweep against a brute-force formulation, and
// the errors bad attributes/dtypes must raise.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>

#include "support/model_builder.h"
#include "support/test_util.h"

namespace kiln {
namespace {

using test::attr;
using test::make_f32;
using test::make_i64;
using test::iota_f32;
using test::run_op;
using Ints = std::vector<int64_t>;

void expect_equal(const Tensor& got, const Tensor& want) {
  ASSERT_EQ(got.shape(), want.shape());
  EXPECT_EQ(test::compare_tensors(got, want, 1e-6, 1e-6), "");
}

void expect_i64(const Tensor& got, std::vector<int64_t> shape, std::vector<int64_t> want) {
  ASSERT_EQ(got.dtype(), DType::Int64);
  ASSERT_EQ(got.shape(), shape);
  std::vector<int64_t> v(got.data_as<int64_t>(), got.data_as<int64_t>() + got.numel());
  EXPECT_EQ(v, want);
}

// ---- MaxPool ---------------------------------------------------------------

TEST(MaxPool, CeilModeAddsPartialWindow) {
  Tensor x = iota_f32({1, 1, 4, 4}, 1.f);
  auto floor_mode = run_op("MaxPool", {x}, 1, [](auto& n) {
    attr(n, "kernel_shape", Ints{3, 3});
    attr(n, "strides", Ints{2, 2});
  });
  expect_equal(floor_mode[0], make_f32({1, 1, 1, 1}, {11}));
  auto ceil_mode = run_op("MaxPool", {x}, 1, [](auto& n) {
    attr(n, "kernel_shape", Ints{3, 3});
    attr(n, "strides", Ints{2, 2});
    attr(n, "ceil_mode", int64_t{1});
  });
  expect_equal(ceil_mode[0], make_f32({1, 1, 2, 2}, {11, 12, 15, 16}));
}

TEST(MaxPool, CeilModeDropsWindowStartingPastInput) {
  // ceil((2 − 1) / 2) + 1 = 2 windows, but the second would start at 2 >= 2.
  auto y = run_op("MaxPool", {iota_f32({1, 1, 2, 2}, 1.f)}, 1, [](auto& n) {
    attr(n, "kernel_shape", Ints{1, 1});
    attr(n, "strides", Ints{2, 2});
    attr(n, "ceil_mode", int64_t{1});
  });
  expect_equal(y[0], make_f32({1, 1, 1, 1}, {1}));
}

TEST(MaxPool, PadsAreNeverValues) {
  // All-negative input: a zero-valued pad would win every border window.
  Tensor x = iota_f32({1, 1, 2, 2}, -10.f);  // -10 -9 / -8 -7
  auto y = run_op("MaxPool", {x}, 1, [](auto& n) {
    attr(n, "kernel_shape", Ints{2, 2});
    attr(n, "pads", Ints{1, 1, 1, 1});
  });
  expect_equal(y[0], make_f32({1, 1, 3, 3}, {-10, -9, -9, -8, -7, -7, -8, -7, -7}));
}

TEST(MaxPool, Dilations1D) {
  Tensor x = make_f32({1, 1, 7}, {1, 5, 2, 8, 3, 0, 4});
  auto y = run_op("MaxPool", {x}, 1, [](auto& n) {
    attr(n, "kernel_shape", Ints{2});
    attr(n, "dilations", Ints{2});
  });
  expect_equal(y[0], make_f32({1, 1, 5}, {2, 8, 3, 8, 4}));
}

TEST(MaxPool, IndicesRowAndColumnMajor) {
  // Channel 0: max 6 at (0,1), then 7 at (0,2). Channel 1: -1 at (0,0), -2 at (1,1).
  Tensor x = make_f32({1, 2, 2, 3}, {1, 6, 7, 4, 2, 3, -1, -6, -7, -4, -2, -3});
  for (int64_t order : {0, 1}) {
    auto y = run_op("MaxPool", {x}, 2, [&](auto& n) {
      attr(n, "kernel_shape", Ints{2, 2});
      attr(n, "storage_order", order);
    });
    expect_equal(y[0], make_f32({1, 2, 1, 2}, {6, 7, -1, -2}));
    // Row-major: h·W + w; column-major: h + w·H; both plus the plane offset 6·c.
    if (order == 0) expect_i64(y[1], {1, 2, 1, 2}, {1, 2, 6, 6 + 4});
    else expect_i64(y[1], {1, 2, 1, 2}, {2, 4, 6, 6 + 3});
  }
}

TEST(MaxPool, Indices3DColumnMajor) {
  // One 2x2x2 window over a 2x2x2 input: the max sits at (d, h, w) = (1, 1, 0).
  Tensor x = make_f32({1, 1, 2, 2, 2}, {0, 0, 0, 0, 0, 0, 9, 0});
  for (int64_t order : {0, 1}) {
    auto y = run_op("MaxPool", {x}, 2, [&](auto& n) {
      attr(n, "kernel_shape", Ints{2, 2, 2});
      attr(n, "storage_order", order);
    });
    // Row-major (d·H + h)·W + w = 6; column-major d + D·(h + H·w) = 3.
    expect_i64(y[1], {1, 1, 1, 1, 1}, {order == 0 ? 6 : 3});
  }
  Tensor x2 = make_f32({1, 1, 2, 2, 2}, {0, 0, 9, 0, 0, 0, 0, 0});  // (0, 1, 0)
  auto rm = run_op("MaxPool", {x2}, 2, [](auto& n) { attr(n, "kernel_shape", Ints{2, 2, 2}); });
  auto cm = run_op("MaxPool", {x2}, 2, [](auto& n) {
    attr(n, "kernel_shape", Ints{2, 2, 2});
    attr(n, "storage_order", int64_t{1});
  });
  expect_i64(rm[1], {1, 1, 1, 1, 1}, {2});  // (0·2 + 1)·2 + 0
  expect_i64(cm[1], {1, 1, 1, 1, 1}, {2});  // 0 + 2·(1 + 2·0)
  Tensor x3 = make_f32({1, 1, 2, 2, 2}, {0, 9, 0, 0, 0, 0, 0, 0});  // (0, 0, 1)
  auto cm3 = run_op("MaxPool", {x3}, 2, [](auto& n) {
    attr(n, "kernel_shape", Ints{2, 2, 2});
    attr(n, "storage_order", int64_t{1});
  });
  expect_i64(cm3[1], {1, 1, 1, 1, 1}, {4});  // 0 + 2·(0 + 2·1); row-major would be 1
}

TEST(MaxPool, SameUpperAndLower) {
  Tensor x = make_f32({1, 1, 4}, {4, 1, 3, 2});
  auto upper = run_op("MaxPool", {x}, 1, [](auto& n) {
    attr(n, "kernel_shape", Ints{2});
    attr(n, "auto_pad", std::string("SAME_UPPER"));
  });
  expect_equal(upper[0], make_f32({1, 1, 4}, {4, 3, 3, 2}));
  auto lower = run_op("MaxPool", {x}, 1, [](auto& n) {
    attr(n, "kernel_shape", Ints{2});
    attr(n, "auto_pad", std::string("SAME_LOWER"));
  });
  expect_equal(lower[0], make_f32({1, 1, 4}, {4, 4, 3, 3}));
  auto valid = run_op("MaxPool", {x}, 1, [](auto& n) {
    attr(n, "kernel_shape", Ints{3});
    attr(n, "auto_pad", std::string("VALID"));
  });
  expect_equal(valid[0], make_f32({1, 1, 2}, {4, 3}));
}

TEST(MaxPool, Int8AndUInt8) {
  Tensor x(DType::Int8, {1, 1, 4});
  int8_t v[] = {-128, -128, 5, -3};
  std::copy(v, v + 4, x.data_as<int8_t>());
  auto y = run_op("MaxPool", {x}, 2, [](auto& n) { attr(n, "kernel_shape", Ints{2}); });
  ASSERT_EQ(y[0].dtype(), DType::Int8);
  EXPECT_EQ(y[0].data_as<int8_t>()[0], -128);
  EXPECT_EQ(y[0].data_as<int8_t>()[1], 5);
  EXPECT_EQ(y[0].data_as<int8_t>()[2], 5);
  expect_i64(y[1], {1, 1, 3}, {0, 2, 2});  // first maximum wins, even at the type's lowest value
}

TEST(MaxPool, OpsetGating) {
  Tensor x = iota_f32({1, 1, 4, 4}, 1.f);
  // ceil_mode and dilations arrived in opset 10; Indices in 8.
  EXPECT_THROW(run_op("MaxPool", {x}, 1, [](auto& n) {
    attr(n, "kernel_shape", Ints{2, 2});
    attr(n, "ceil_mode", int64_t{1});
  }, 9), Error);
  EXPECT_THROW(run_op("MaxPool", {x}, 2, [](auto& n) { attr(n, "kernel_shape", Ints{2, 2}); }, 7), Error);
  auto y = run_op("MaxPool", {x}, 1, [](auto& n) { attr(n, "kernel_shape", Ints{2, 2}); }, 1);
  EXPECT_EQ(y[0].shape(), (Ints{1, 1, 3, 3}));
  Tensor u(DType::UInt8, {1, 1, 4});
  EXPECT_THROW(run_op("MaxPool", {u}, 1, [](auto& n) { attr(n, "kernel_shape", Ints{2}); }, 11), Error);
}

TEST(MaxPool, RejectsBadAttributes) {
  Tensor x = iota_f32({1, 1, 4, 4}, 1.f);
  auto fails = [&](const std::function<void(onnx::NodeProto&)>& set) { EXPECT_THROW(run_op("MaxPool", {x}, 1, set), Error); };
  fails([](auto&) {});  // no kernel_shape
  fails([](auto& n) { attr(n, "kernel_shape", Ints{2}); });             // rank mismatch
  fails([](auto& n) { attr(n, "kernel_shape", Ints{2, 0}); });          // non-positive
  fails([](auto& n) { attr(n, "kernel_shape", Ints{5, 5}); });          // larger than input
  fails([](auto& n) {
    attr(n, "kernel_shape", Ints{2, 2});
    attr(n, "strides", Ints{1});
  });
  fails([](auto& n) {
    attr(n, "kernel_shape", Ints{2, 2});
    attr(n, "pads", Ints{1, 1, -1, 1});
  });
  fails([](auto& n) {
    attr(n, "kernel_shape", Ints{2, 2});
    attr(n, "pads", Ints{1, 1, 1, 1});
    attr(n, "auto_pad", std::string("SAME_UPPER"));
  });
  fails([](auto& n) {
    attr(n, "kernel_shape", Ints{2, 2});
    attr(n, "auto_pad", std::string("SAME"));
  });
  fails([](auto& n) {
    attr(n, "kernel_shape", Ints{2, 2});
    attr(n, "storage_order", int64_t{2});
  });
  fails([](auto& n) {
    attr(n, "kernel_shape", Ints{2, 2});
    attr(n, "count_include_pad", int64_t{1});
  });
  Tensor x6 = iota_f32({1, 1, 2, 2, 2, 2}, 1.f);
  EXPECT_THROW(run_op("MaxPool", {x6}, 1, [](auto& n) { attr(n, "kernel_shape", Ints{1, 1, 1, 1}); }), Error);
  EXPECT_THROW(run_op("MaxPool", {make_i64({1, 1, 4}, {1, 2, 3, 4})}, 1,
                      [](auto& n) { attr(n, "kernel_shape", Ints{2}); }),
               Error);
}

// ---- AveragePool -----------------------------------------------------------

TEST(AveragePool, CountIncludePadBothWays) {
  Tensor x = iota_f32({1, 1, 3, 3}, 1.f);  // 1..9
  auto run = [&](int64_t include) {
    return run_op("AveragePool", {x}, 1, [&](auto& n) {
      attr(n, "kernel_shape", Ints{2, 2});
      attr(n, "pads", Ints{1, 1, 1, 1});
      attr(n, "count_include_pad", include);
    })[0];
  };
  Tensor excl = run(0), incl = run(1);
  ASSERT_EQ(excl.shape(), (Ints{1, 1, 4, 4}));
  const float* e = excl.data_as<float>();
  const float* i = incl.data_as<float>();
  EXPECT_FLOAT_EQ(e[0], 1.f);      // corner: only x[0,0]
  EXPECT_FLOAT_EQ(i[0], 0.25f);    // … divided by the 4 window taps
  EXPECT_FLOAT_EQ(e[1], 1.5f);     // top edge: (1 + 2) / 2
  EXPECT_FLOAT_EQ(i[1], 0.75f);    // (1 + 2) / 4
  EXPECT_FLOAT_EQ(e[5], 3.f);      // interior (1 + 2 + 4 + 5) / 4 either way
  EXPECT_FLOAT_EQ(i[5], 3.f);
  EXPECT_FLOAT_EQ(e[15], 9.f);
  EXPECT_FLOAT_EQ(i[15], 2.25f);
}

TEST(AveragePool, CeilModeTailIsNotCountedAsPadding) {
  // in = 6, pads 1/1, k = 3, s = 2, ceil: windows start at −1, 1, 3, 5; the last
  // covers x[5], the end pad (counted with count_include_pad) and one position
  // past the padded input (never counted).
  Tensor x = iota_f32({1, 1, 6}, 1.f);
  auto run = [&](int64_t include) {
    return run_op("AveragePool", {x}, 1, [&](auto& n) {
      attr(n, "kernel_shape", Ints{3});
      attr(n, "strides", Ints{2});
      attr(n, "pads", Ints{1, 1});
      attr(n, "ceil_mode", int64_t{1});
      attr(n, "count_include_pad", include);
    })[0];
  };
  expect_equal(run(1), make_f32({1, 1, 4}, {1, 3, 5, 3}));
  expect_equal(run(0), make_f32({1, 1, 4}, {1.5f, 3, 5, 6}));
}

TEST(AveragePool, SameLowerExcludesPads) {
  Tensor x = make_f32({1, 1, 4}, {1, 2, 3, 4});
  auto lower = run_op("AveragePool", {x}, 1, [](auto& n) {
    attr(n, "kernel_shape", Ints{2});
    attr(n, "auto_pad", std::string("SAME_LOWER"));
  });
  expect_equal(lower[0], make_f32({1, 1, 4}, {1, 1.5f, 2.5f, 3.5f}));
  auto upper = run_op("AveragePool", {x}, 1, [](auto& n) {
    attr(n, "kernel_shape", Ints{2});
    attr(n, "auto_pad", std::string("SAME_UPPER"));
    attr(n, "count_include_pad", int64_t{1});
  });
  expect_equal(upper[0], make_f32({1, 1, 4}, {1.5f, 2.5f, 3.5f, 2}));
}

TEST(AveragePool, DilationsFromOpset19) {
  Tensor x = make_f32({1, 1, 5}, {1, 2, 3, 4, 5});
  auto set = [](onnx::NodeProto& n) {
    attr(n, "kernel_shape", Ints{2});
    attr(n, "dilations", Ints{2});
  };
  auto y = run_op("AveragePool", {x}, 1, set, 19);
  expect_equal(y[0], make_f32({1, 1, 3}, {2, 3, 4}));
  EXPECT_THROW(run_op("AveragePool", {x}, 1, set, 18), Error);
  EXPECT_THROW(run_op("AveragePool", {x}, 1, [](auto& n) {
    attr(n, "kernel_shape", Ints{2});
    attr(n, "count_include_pad", int64_t{1});
  }, 6), Error);
}

TEST(AveragePool, Float64AndErrors) {
  Tensor x(DType::Float64, {1, 1, 3});
  double v[] = {1, 2, 4};
  std::copy(v, v + 3, x.data_as<double>());
  auto y = run_op("AveragePool", {x}, 1, [](auto& n) { attr(n, "kernel_shape", Ints{2}); });
  ASSERT_EQ(y[0].dtype(), DType::Float64);
  EXPECT_DOUBLE_EQ(y[0].data_as<double>()[0], 1.5);
  EXPECT_DOUBLE_EQ(y[0].data_as<double>()[1], 3.0);
  Tensor u(DType::UInt8, {1, 1, 4});
  EXPECT_THROW(run_op("AveragePool", {u}, 1, [](auto& n) { attr(n, "kernel_shape", Ints{2}); }), Error);
  EXPECT_THROW(run_op("AveragePool", {iota_f32({1, 1, 4}, 1.f)}, 1, [](auto& n) {
    attr(n, "kernel_shape", Ints{2});
    attr(n, "storage_order", int64_t{1});
  }), Error);
}

// ---- Randomized sweep against a brute-force formulation -----------------------

// Output size from the spec's formula, written independently of the op.
int64_t spec_out(int64_t in, int64_t k, int64_t s, int64_t d, int64_t pb, int64_t pe, bool ceil_mode) {
  double v = static_cast<double>(in + pb + pe - d * (k - 1) - 1) / static_cast<double>(s) + 1;
  int64_t out = static_cast<int64_t>(ceil_mode ? std::ceil(v) : std::floor(v));
  if (ceil_mode && (out - 1) * s >= in + pb) --out;  // windows starting in the end padding are ignored
  return out;
}

// Brute force: an input position i belongs to window o when i = o·s − pb + k·d for some k < K.
bool in_window(int64_t i, int64_t o, int64_t K, int64_t s, int64_t d, int64_t pb) {
  int64_t off = i - (o * s - pb);
  return off >= 0 && off % d == 0 && off / d < K;
}

TEST(Pool2D, RandomSweepMatchesBruteForce) {
  std::mt19937 rng(7);
  int64_t checked = 0, empty_windows = 0;
  auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  for (int trial = 0; trial < 60; ++trial) {
    int64_t H = pick(1, 9), W = pick(1, 9), C = pick(1, 3);
    Ints k = {pick(1, 3), pick(1, 3)}, s = {pick(1, 3), pick(1, 3)}, d = {pick(1, 2), pick(1, 2)};
    Ints pads = {pick(0, 2), pick(0, 2), pick(0, 2), pick(0, 2)};
    for (int a = 0; a < 2; ++a) {
      int64_t dk = d[a] * (k[a] - 1) + 1;
      pads[a] = std::min(pads[a], dk - 1);
      pads[a + 2] = std::min(pads[a + 2], dk - 1);
    }
    bool ceil_mode = pick(0, 1) == 1, include = pick(0, 1) == 1;
    int64_t OH = spec_out(H, k[0], s[0], d[0], pads[0], pads[2], ceil_mode);
    int64_t OW = spec_out(W, k[1], s[1], d[1], pads[1], pads[3], ceil_mode);
    if (OH < 1 || OW < 1) continue;
    Tensor x = test::random_f32({1, C, H, W}, 100 + trial);
    auto set = [&](onnx::NodeProto& n) {
      attr(n, "kernel_shape", k);
      attr(n, "strides", s);
      attr(n, "dilations", d);
      attr(n, "pads", pads);
      attr(n, "ceil_mode", int64_t{ceil_mode});
    };
    auto mp = run_op("MaxPool", {x}, 2, set);
    auto ap = run_op("AveragePool", {x}, 1, [&](onnx::NodeProto& n) {
      set(n);
      attr(n, "count_include_pad", int64_t{include});
    }, 19);
    ASSERT_EQ(mp[0].shape(), (Ints{1, C, OH, OW})) << "trial " << trial;
    ASSERT_EQ(ap[0].shape(), (Ints{1, C, OH, OW})) << "trial " << trial;
    const float* xp = x.data_as<float>();
    for (int64_t c = 0; c < C; ++c)
      for (int64_t oh = 0; oh < OH; ++oh)
        for (int64_t ow = 0; ow < OW; ++ow) {
          float best = -std::numeric_limits<float>::infinity();
          int64_t best_i = -1;
          double sum = 0;
          int64_t n = 0;
          for (int64_t h = 0; h < H; ++h)
            for (int64_t w = 0; w < W; ++w)
              if (in_window(h, oh, k[0], s[0], d[0], pads[0]) && in_window(w, ow, k[1], s[1], d[1], pads[1])) {
                float v = xp[(c * H + h) * W + w];
                if (v > best) best = v, best_i = (c * H + h) * W + w;
                sum += v;
                ++n;
              }
          // Taps of the window inside the padded extent [−pb, in + pe).
          auto padded_taps = [&](int64_t o, int a, int64_t in) {
            int64_t t = 0;
            for (int64_t kk = 0; kk < k[a]; ++kk) {
              int64_t p = o * s[a] - pads[a] + kk * d[a];
              t += p >= -pads[a] && p < in + pads[a + 2];
            }
            return t;
          };
          int64_t count = include ? padded_taps(oh, 0, H) * padded_taps(ow, 1, W) : n;
          int64_t o = (c * OH + oh) * OW + ow;
          if (n == 0) {
            // Dilated taps can all miss the input: max is lowest() with index −1;
            // the average without pads is 0/0.
            ++empty_windows;
            EXPECT_EQ(mp[0].data_as<float>()[o], std::numeric_limits<float>::lowest());
            EXPECT_EQ(mp[1].data_as<int64_t>()[o], -1);
            if (!include) {
              EXPECT_TRUE(std::isnan(ap[0].data_as<float>()[o]));
              continue;
            }
          } else {
            EXPECT_EQ(mp[0].data_as<float>()[o], best) << "trial " << trial;
            EXPECT_EQ(mp[1].data_as<int64_t>()[o], best_i) << "trial " << trial;
          }
          ++checked;
          EXPECT_NEAR(ap[0].data_as<float>()[o], sum / count, 1e-5) << "trial " << trial;
        }
  }
  EXPECT_GT(checked, 1000);
  EXPECT_GT(empty_windows, 0);
}

TEST(Pool2D, ResultsDoNotDependOnThreads) {
  Tensor x = test::random_f32({2, 16, 33, 35}, 3);
  auto run = [&](const char* op, int threads) {
    test::ModelBuilder b;
    b.input("x", DType::Float32, x.shape()).output("y");
    auto& n = b.node(op, {"x"}, {"y"});
    attr(n, "kernel_shape", Ints{3, 3});
    attr(n, "strides", Ints{2, 2});
    attr(n, "pads", Ints{1, 1, 1, 1});
    SessionOptions o;
    o.threads = threads;
    return b.session(o).run({x})[0];
  };
  for (const char* op : {"MaxPool", "AveragePool"}) {
    Tensor a = run(op, 1), b = run(op, 3);
    EXPECT_EQ(test::max_abs_diff(a, b), 0.0) << op;
  }
}

// ---- Global pools ----------------------------------------------------------------

TEST(GlobalPool, MaxAndAverage) {
  Tensor x = make_f32({1, 2, 2, 2}, {1, 2, 3, 6, -1, -2, -3, -6});
  auto avg = run_op("GlobalAveragePool", {x}, 1);
  expect_equal(avg[0], make_f32({1, 2, 1, 1}, {3, -3}));
  auto mx = run_op("GlobalMaxPool", {x}, 1);
  expect_equal(mx[0], make_f32({1, 2, 1, 1}, {6, -1}));
  Tensor x1 = make_f32({2, 1, 3}, {1, 2, 3, 4, 5, 9});
  expect_equal(run_op("GlobalAveragePool", {x1}, 1)[0], make_f32({2, 1, 1}, {2, 6}));
  expect_equal(run_op("GlobalMaxPool", {x1}, 1)[0], make_f32({2, 1, 1}, {3, 9}));
}

TEST(GlobalPool, Errors) {
  EXPECT_THROW(run_op("GlobalAveragePool", {make_f32({3}, {1, 2, 3})}, 1), Error);
  EXPECT_THROW(run_op("GlobalMaxPool", {make_i64({1, 1, 2}, {1, 2})}, 1), Error);
}

}  // namespace
}  // namespace kiln
