// ReduceSum/Mean/Max/Min and Prod/SumSquare/L1/L2/LogSum/LogSumExp (axes as
// attribute and as input, keepdims,
// noop_with_empty_axes, negative axes, empty sets) and Softmax/LogSoftmax
// (old 2-D-coercion and new single-axis semantics), plus their errors.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

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

void expect_close(const Tensor& got, const Tensor& want, double tol = 1e-5) {
  ASSERT_EQ(got.dtype(), want.dtype());
  ASSERT_EQ(got.shape(), want.shape());
  EXPECT_EQ(test::compare_tensors(got, want, tol, tol), "");
}

// One reduce node whose axes input is an initializer (so inference sees constant axes).
Tensor reduce_const_axes(const std::string& op, const Tensor& x, const Ints& axes, int64_t keepdims, int opset = 18,
                         int64_t noop = 0) {
  test::ModelBuilder b(opset);
  b.input("x", x.dtype(), x.shape()).initializer("axes", make_i64({static_cast<int64_t>(axes.size())}, axes)).output("y");
  auto& n = b.node(op, {"x", "axes"}, {"y"});
  attr(n, "keepdims", keepdims);
  if (noop) attr(n, "noop_with_empty_axes", noop);
  return b.session().run({x})[0];
}

// ---- Reductions ------------------------------------------------------------

// x[i, j, k] = 12i + 4j + k over 2x3x4.
TEST(Reduce, SumOverNonAdjacentAxesKeepdimsBothWays) {
  Tensor x = iota_f32({2, 3, 4});
  // Σ_{i,k} = Σ_i Σ_k (12i + 4j + k) = 4·(0 + 12) + 2·4·4j + 2·6 = 60 + 32j.
  Tensor keep = reduce_const_axes("ReduceSum", x, {0, 2}, 1);
  expect_close(keep, make_f32({1, 3, 1}, {60, 92, 124}));
  Tensor drop = reduce_const_axes("ReduceSum", x, {2, 0}, 0);
  expect_close(drop, make_f32({3}, {60, 92, 124}));
  // Attribute form (opset 11) with negative axes gives the same.
  auto attr_form = run_op("ReduceSum", {x}, 1, [](auto& n) {
    attr(n, "axes", Ints{-1, -3});
    attr(n, "keepdims", int64_t{0});
  }, 11);
  expect_close(attr_form[0], make_f32({3}, {60, 92, 124}));
}

TEST(Reduce, MeanMaxMinAlongMiddleAxis) {
  Tensor x = iota_f32({2, 3, 4});
  // Along j: mean = 12i + k + 4, max = 12i + k + 8, min = 12i + k.
  std::vector<float> mean, mx, mn;
  for (int i = 0; i < 2; ++i)
    for (int k = 0; k < 4; ++k) {
      mean.push_back(12.f * i + k + 4);
      mx.push_back(12.f * i + k + 8);
      mn.push_back(12.f * i + k);
    }
  expect_close(reduce_const_axes("ReduceMean", x, {-2}, 1), make_f32({2, 1, 4}, mean));
  expect_close(reduce_const_axes("ReduceMax", x, {1}, 0), make_f32({2, 4}, mx));
  expect_close(reduce_const_axes("ReduceMin", x, {1}, 0), make_f32({2, 4}, mn));
  // Opset 13 attribute form for the same ops.
  auto set = [](onnx::NodeProto& n) {
    attr(n, "axes", Ints{1});
    attr(n, "keepdims", int64_t{0});
  };
  expect_close(run_op("ReduceMean", {x}, 1, set, 13)[0], make_f32({2, 4}, mean));
  expect_close(run_op("ReduceMax", {x}, 1, set, 13)[0], make_f32({2, 4}, mx));
  expect_close(run_op("ReduceMin", {x}, 1, set, 1)[0], make_f32({2, 4}, mn));
}

TEST(Reduce, DefaultAxesReduceEverything) {
  Tensor x = iota_f32({2, 3});
  auto keep = run_op("ReduceSum", {x}, 1);
  expect_close(keep[0], make_f32({1, 1}, {15}));
  auto drop = run_op("ReduceMean", {x}, 1, [](auto& n) { attr(n, "keepdims", int64_t{0}); });
  expect_close(drop[0], make_f32({}, {2.5f}));
  // An explicitly empty axes input also reduces everything unless noop is set.
  expect_close(reduce_const_axes("ReduceMax", x, {}, 1), make_f32({1, 1}, {5}));
  expect_close(reduce_const_axes("ReduceMax", x, {}, 1, 18, 1), x);
}

TEST(Reduce, NoopWithEmptyAxes) {
  Tensor x = iota_f32({2, 3});
  auto y = run_op("ReduceSum", {x}, 1, [](auto& n) { attr(n, "noop_with_empty_axes", int64_t{1}); }, 13);
  expect_close(y[0], x);
  // Non-empty axes reduce as usual with noop set.
  auto z = run_op("ReduceSum", {x, make_i64({1}, {1})}, 1, [](auto& n) {
    attr(n, "noop_with_empty_axes", int64_t{1});
    attr(n, "keepdims", int64_t{0});
  }, 13);
  expect_close(z[0], make_f32({2}, {3, 12}));
}

TEST(Reduce, AxesFromNonConstantInput) {
  // The axes are a graph input: the output shape is known only at run time.
  Tensor x = iota_f32({2, 3, 4});
  auto keep = run_op("ReduceSum", {x, make_i64({1}, {-1})}, 1, {}, 13);
  ASSERT_EQ(keep[0].shape(), (Ints{2, 3, 1}));
  EXPECT_FLOAT_EQ(keep[0].data_as<float>()[5], 4 * 20.f + 6);  // row 12·1 + 4·2 = 20: 4·20 + 0+1+2+3
  auto drop = run_op("ReduceMin", {x, make_i64({2}, {0, 1})}, 1, [](auto& n) { attr(n, "keepdims", int64_t{0}); }, 18);
  expect_close(drop[0], make_f32({4}, {0, 1, 2, 3}));
}

TEST(Reduce, IntegerAndBoolDtypes) {
  Tensor xi(DType::Int32, {2, 3});
  int32_t v[] = {1, -7, 3, 4, 5, 2};
  std::copy(v, v + 6, xi.data_as<int32_t>());
  Tensor s = reduce_const_axes("ReduceSum", xi, {1}, 0);
  ASSERT_EQ(s.dtype(), DType::Int32);
  EXPECT_EQ(s.data_as<int32_t>()[0], -3);
  EXPECT_EQ(s.data_as<int32_t>()[1], 11);
  Tensor m = reduce_const_axes("ReduceMean", xi, {1}, 0);
  EXPECT_EQ(m.data_as<int32_t>()[0], -1);  // −3 / 3
  EXPECT_EQ(m.data_as<int32_t>()[1], 3);   // 11 / 3, truncated
  Tensor mn = reduce_const_axes("ReduceMin", make_i64({3}, {5, -2, 9}), {0}, 0);
  EXPECT_EQ(mn.data_as<int64_t>()[0], -2);

  Tensor b(DType::Bool, {2, 2});
  uint8_t bv[] = {0, 1, 0, 0};
  std::copy(bv, bv + 4, b.data_as<uint8_t>());
  Tensor any = reduce_const_axes("ReduceMax", b, {1}, 0, 20);
  Tensor all = reduce_const_axes("ReduceMin", b, {1}, 0, 20);
  ASSERT_EQ(any.dtype(), DType::Bool);
  EXPECT_EQ(any.data_as<uint8_t>()[0], 1);
  EXPECT_EQ(any.data_as<uint8_t>()[1], 0);
  EXPECT_EQ(all.data_as<uint8_t>()[0], 0);
  // Empty set over bool: max = false, min = true.
  Tensor eb(DType::Bool, {2, 0});
  EXPECT_EQ(reduce_const_axes("ReduceMin", eb, {1}, 0, 20).data_as<uint8_t>()[0], 1);
  EXPECT_EQ(reduce_const_axes("ReduceMax", eb, {1}, 0, 20).data_as<uint8_t>()[1], 0);
}

TEST(Reduce, EmptySets) {
  Tensor e(DType::Float32, {2, 0, 3});
  Tensor sum = reduce_const_axes("ReduceSum", e, {1}, 1);
  expect_close(sum, make_f32({2, 1, 3}, std::vector<float>(6, 0.f)));
  Tensor mx = reduce_const_axes("ReduceMax", e, {1}, 0);
  Tensor mn = reduce_const_axes("ReduceMin", e, {1}, 0);
  Tensor mean = reduce_const_axes("ReduceMean", e, {1}, 0);
  for (int i = 0; i < 6; ++i) {
    EXPECT_EQ(mx.data_as<float>()[i], -std::numeric_limits<float>::infinity());
    EXPECT_EQ(mn.data_as<float>()[i], std::numeric_limits<float>::infinity());
    EXPECT_TRUE(std::isnan(mean.data_as<float>()[i]));
  }
  // Zero-size kept axis: an empty result.
  Tensor z = reduce_const_axes("ReduceSum", e, {2}, 0);
  EXPECT_EQ(z.shape(), (Ints{2, 0}));
  EXPECT_THROW(reduce_const_axes("ReduceMean", Tensor(DType::Int64, {0}), {0}, 0), Error);
}

TEST(Reduce, NaNPropagatesThroughMaxAndMin) {
  Tensor x = make_f32({4}, {1, std::nanf(""), 3, -2});
  EXPECT_TRUE(std::isnan(run_op("ReduceMax", {x}, 1)[0].data_as<float>()[0]));
  EXPECT_TRUE(std::isnan(run_op("ReduceMin", {x}, 1)[0].data_as<float>()[0]));
}

TEST(Reduce, LargeReductionIsAccurateAndThreadIndependent) {
  Tensor x = test::random_f32({3, 50000}, 11, 0.f, 1.f);
  double want = 0;
  for (int64_t i = 0; i < 50000; ++i) want += x.data_as<float>()[50000 + i];
  auto run = [&](int threads) {
    test::ModelBuilder b(18);
    b.input("x", DType::Float32, x.shape()).initializer("axes", make_i64({1}, {1})).output("y");
    b.node("ReduceSum", {"x", "axes"}, {"y"});
    SessionOptions o;
    o.threads = threads;
    return b.session(o).run({x})[0];
  };
  Tensor a = run(1), c = run(3);
  EXPECT_NEAR(a.data_as<float>()[1], want, 1e-3);
  EXPECT_EQ(test::max_abs_diff(a, c), 0.0);
}

// The reductions built from Σ and Π, against double sums along the middle
// axis of a 2×3×4 tensor with negative entries.
TEST(Reduce, ProdSumSquareL1L2LogSumLogSumExp) {
  Tensor x(DType::Float32, {2, 3, 4});
  for (int64_t i = 0; i < 24; ++i) x.data_as<float>()[i] = static_cast<float>((i % 7) - 2.5) * 0.75f;
  struct Case {
    const char* op;
    double init;
    double (*step)(double, double);
    double (*finish)(double);
  };
  const Case cases[] = {
      {"ReduceProd", 1, [](double a, double v) { return a * v; }, [](double a) { return a; }},
      {"ReduceSumSquare", 0, [](double a, double v) { return a + v * v; }, [](double a) { return a; }},
      {"ReduceL1", 0, [](double a, double v) { return a + std::fabs(v); }, [](double a) { return a; }},
      {"ReduceL2", 0, [](double a, double v) { return a + v * v; }, [](double a) { return std::sqrt(a); }},
      {"ReduceLogSum", 0, [](double a, double v) { return a + std::fabs(v); }, [](double a) { return std::log(a); }},
      {"ReduceLogSumExp", 0, [](double a, double v) { return a + std::exp(v); }, [](double a) { return std::log(a); }},
  };
  for (const Case& c : cases) {
    // LogSum of |x| (its log needs a positive sum): the input is |x| there.
    Tensor in = x.clone();
    if (std::string(c.op) == "ReduceLogSum")
      for (int64_t i = 0; i < 24; ++i) in.data_as<float>()[i] = std::fabs(in.data_as<float>()[i]);
    std::vector<float> want;
    for (int64_t i = 0; i < 2; ++i)
      for (int64_t k = 0; k < 4; ++k) {
        double a = c.init;
        for (int64_t j = 0; j < 3; ++j) a = c.step(a, x.data_as<float>()[(i * 3 + j) * 4 + k]);
        want.push_back(static_cast<float>(c.finish(a)));
      }
    expect_close(reduce_const_axes(c.op, in, {1}, 0), make_f32({2, 4}, want));
    // Attribute form (opset 13), keepdims.
    auto attr_form = run_op(c.op, {in}, 1, [](auto& n) { attr(n, "axes", Ints{-2}); }, 13);
    expect_close(attr_form[0], make_f32({2, 1, 4}, want));
  }
}

TEST(Reduce, EmptySetsOfTheNewReductions) {
  Tensor x(DType::Float32, {2, 0, 3});
  const float inf = std::numeric_limits<float>::infinity();
  const std::pair<const char*, float> cases[] = {{"ReduceProd", 1.f},  {"ReduceSumSquare", 0.f}, {"ReduceL1", 0.f},
                                                 {"ReduceL2", 0.f},    {"ReduceLogSum", -inf},   {"ReduceLogSumExp", -inf}};
  for (const auto& [op, v] : cases) {
    Tensor y = reduce_const_axes(op, x, {1}, 0);
    ASSERT_EQ(y.shape(), (Ints{2, 3})) << op;
    for (int64_t i = 0; i < 6; ++i) EXPECT_EQ(y.data_as<float>()[i], v) << op;
  }
}

TEST(Reduce, LogSumExpIsStableAndKeepsInfinitiesAndNaN) {
  const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
  // Rows: large values (a naive Σeˣ overflows), −inf entries, all −inf, +inf twice, a NaN.
  Tensor x = make_f32({5, 3}, {1000.f, 1001.f, 999.f, -inf, 2.f, -inf, -inf, -inf, -inf, inf, 1.f, inf, 3.f, nan, 4.f});
  Tensor y = reduce_const_axes("ReduceLogSumExp", x, {1}, 0);
  const float* p = y.data_as<float>();
  EXPECT_NEAR(p[0], 1001.0 + std::log(1.0 + std::exp(-1.0) + std::exp(-2.0)), 1e-3);
  EXPECT_FLOAT_EQ(p[1], 2.f);
  EXPECT_EQ(p[2], -inf);
  EXPECT_EQ(p[3], inf);
  EXPECT_TRUE(std::isnan(p[4]));
}

TEST(Reduce, IntegerProductsAndSumsWrapLikeTheType) {
  Tensor x(DType::Int32, {3});
  int32_t* xp = x.data_as<int32_t>();
  xp[0] = 100000;
  xp[1] = 100000;
  xp[2] = -3;
  // 10¹⁰ mod 2³² = 1410065408, times −3 mod 2³² as int32.
  const int64_t prod = static_cast<int32_t>(static_cast<uint32_t>(1410065408u * static_cast<uint32_t>(-3)));
  Tensor p = run_op("ReduceProd", {x}, 1, [](auto& n) { attr(n, "keepdims", int64_t{0}); }, 13)[0];
  EXPECT_EQ(p.data_as<int32_t>()[0], prod);
  Tensor l1 = run_op("ReduceL1", {x}, 1, [](auto& n) { attr(n, "keepdims", int64_t{0}); }, 13)[0];
  EXPECT_EQ(l1.data_as<int32_t>()[0], 200003);
  Tensor y(DType::Int64, {2});
  y.data_as<int64_t>()[0] = -7;
  y.data_as<int64_t>()[1] = 3000000000;
  Tensor sq = run_op("ReduceSumSquare", {y}, 1, [](auto& n) { attr(n, "keepdims", int64_t{0}); }, 13)[0];
  EXPECT_EQ(sq.data_as<int64_t>()[0], int64_t{49} + int64_t{3000000000} * 3000000000);
  // √ and log of an integer sum: refused with the supported dtypes named.
  for (const char* op : {"ReduceL2", "ReduceLogSum", "ReduceLogSumExp"}) {
    try {
      run_op(op, {x}, 1, {}, 13);
      ADD_FAILURE() << op << " ran on int32";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("float32, float64"), std::string::npos) << e.what();
    }
  }
}

TEST(Reduce, Errors) {
  Tensor x = iota_f32({2, 3});
  EXPECT_THROW(reduce_const_axes("ReduceSum", x, {0, -2}, 1), Error);  // repeated axis
  EXPECT_THROW(reduce_const_axes("ReduceSum", x, {2}, 1), Error);      // out of range
  EXPECT_THROW(run_op("ReduceSum", {x, make_i64({1}, {-3})}, 1, {}, 13), Error);
  EXPECT_THROW(run_op("ReduceMean", {x}, 1, [](auto& n) { attr(n, "axes", Ints{0}); }, 18), Error);
  EXPECT_THROW(run_op("ReduceSum", {x}, 1, [](auto& n) { attr(n, "noop_with_empty_axes", int64_t{1}); }, 11), Error);
  EXPECT_THROW(run_op("ReduceMax", {x}, 1, [](auto& n) { attr(n, "keepdims", int64_t{2}); }), Error);
  EXPECT_THROW(run_op("ReduceSum", {x, make_f32({1}, {0})}, 1, {}, 13), Error);  // float axes
  EXPECT_THROW(run_op("ReduceSum", {x, make_i64({1}, {0})}, 1, {}, 11), Error);  // axes input before 13
  Tensor b(DType::Bool, {2});
  EXPECT_THROW(run_op("ReduceSum", {b}, 1), Error);
  EXPECT_THROW(run_op("ReduceMax", {b}, 1, {}, 18), Error);  // bool only from opset 20
  Tensor i8(DType::Int8, {2});
  EXPECT_THROW(run_op("ReduceMean", {i8}, 1), Error);
  EXPECT_THROW(run_op("ReduceMax", {i8}, 1, {}, 11), Error);  // int8 only from opset 12
}

// ---- Softmax / LogSoftmax -------------------------------------------------------

// Softmax of x viewed as [outer, n, inner] along the middle axis, in double.
Tensor softmax_ref(const Tensor& x, int64_t outer, int64_t n, int64_t inner, bool log) {
  Tensor y(DType::Float32, x.shape());
  const float* xp = x.data_as<float>();
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t j = 0; j < inner; ++j) {
      double s = 0;
      for (int64_t k = 0; k < n; ++k) s += std::exp(static_cast<double>(xp[(o * n + k) * inner + j]));
      for (int64_t k = 0; k < n; ++k) {
        double v = xp[(o * n + k) * inner + j];
        y.data_as<float>()[(o * n + k) * inner + j] = static_cast<float>(log ? v - std::log(s) : std::exp(v) / s);
      }
    }
  return y;
}

TEST(Softmax, OldOpsetsNormalizeTheFlattenedTrailingBlock) {
  Tensor x = test::random_f32({2, 3, 4, 5}, 5, -3.f, 3.f);
  for (bool log : {false, true}) {
    const char* op = log ? "LogSoftmax" : "Softmax";
    // Opset 11, axis 1 (the default): rows of the 2 x 60 matrix.
    auto old_default = run_op(op, {x}, 1, {}, 11);
    expect_close(old_default[0], softmax_ref(x, 2, 60, 1, log));
    auto old_axis2 = run_op(op, {x}, 1, [](auto& n) { attr(n, "axis", int64_t{2}); }, 1);
    expect_close(old_axis2[0], softmax_ref(x, 6, 20, 1, log));
    auto old_neg = run_op(op, {x}, 1, [](auto& n) { attr(n, "axis", int64_t{-3}); }, 11);
    expect_close(old_neg[0], softmax_ref(x, 2, 60, 1, log));
    // Opset 13, axis 1: along the single axis of size 3, per (n, h, w).
    auto new_axis1 = run_op(op, {x}, 1, [](auto& n) { attr(n, "axis", int64_t{1}); }, 13);
    expect_close(new_axis1[0], softmax_ref(x, 2, 3, 20, log));
    EXPECT_GT(test::max_abs_diff(new_axis1[0], old_default[0]), 0.1);
    // Opset 13 default: the last axis.
    auto new_default = run_op(op, {x}, 1, {}, 13);
    expect_close(new_default[0], softmax_ref(x, 24, 5, 1, log));
  }
}

TEST(Softmax, WideInnerBlocksAndThreads) {
  // inner = 130 spans several column blocks and a ragged tail.
  Tensor x = test::random_f32({3, 7, 130}, 9, -5.f, 5.f);
  auto run = [&](int threads) {
    test::ModelBuilder b(13);
    b.input("x", DType::Float32, x.shape()).output("y");
    attr(b.node("Softmax", {"x"}, {"y"}), "axis", int64_t{1});
    SessionOptions o;
    o.threads = threads;
    return b.session(o).run({x})[0];
  };
  Tensor a = run(1), c = run(3);
  expect_close(a, softmax_ref(x, 3, 7, 130, false));
  EXPECT_EQ(test::max_abs_diff(a, c), 0.0);
}

TEST(Softmax, StableForLargeInputs) {
  Tensor x = make_f32({1, 3}, {1000, 1001, 1002});
  Tensor want_log = make_f32({1, 3}, {-2.407606f, -1.407606f, -0.407606f});
  expect_close(run_op("LogSoftmax", {x}, 1)[0], want_log);
  Tensor y = run_op("Softmax", {x}, 1)[0];
  expect_close(y, make_f32({1, 3}, {0.0900306f, 0.2447285f, 0.6652410f}));
}

TEST(Softmax, NaNPoisonsItsRowOnly) {
  Tensor x = make_f32({2, 3}, {1, std::nanf(""), 2, 1, 2, 3});
  for (const char* op : {"Softmax", "LogSoftmax"}) {
    Tensor y = run_op(op, {x}, 1)[0];
    for (int i = 0; i < 3; ++i) EXPECT_TRUE(std::isnan(y.data_as<float>()[i])) << op;
    for (int i = 3; i < 6; ++i) EXPECT_FALSE(std::isnan(y.data_as<float>()[i])) << op;
  }
}

TEST(Softmax, Float64) {
  Tensor x(DType::Float64, {2});
  x.data_as<double>()[0] = 0;
  x.data_as<double>()[1] = std::log(3.0);
  Tensor y = run_op("Softmax", {x}, 1)[0];
  ASSERT_EQ(y.dtype(), DType::Float64);
  EXPECT_NEAR(y.data_as<double>()[0], 0.25, 1e-12);
  EXPECT_NEAR(y.data_as<double>()[1], 0.75, 1e-12);
}

TEST(Softmax, Errors) {
  Tensor x = iota_f32({2, 3});
  EXPECT_THROW(run_op("Softmax", {x}, 1, [](auto& n) { attr(n, "axis", int64_t{2}); }), Error);
  EXPECT_THROW(run_op("LogSoftmax", {x}, 1, [](auto& n) { attr(n, "axis", int64_t{-3}); }, 11), Error);
  EXPECT_THROW(run_op("Softmax", {make_i64({2}, {1, 2})}, 1), Error);
}

}  // namespace
}  // namespace kiln
