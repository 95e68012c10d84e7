// NaN and infinity in inputs follow IEEE 754 through the ops: they propagate
// where the maths says so, stay out of results they cannot reach, and never
// crash or raise an error.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "support/model_builder.h"
#include "support/test_util.h"

namespace kiln::test {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();
const float kNaN = std::numeric_limits<float>::quiet_NaN();

TEST(NanInf, ArithmeticFollowsIeee) {
  Tensor a = make_f32({5}, {1, 0, kInf, kInf, kNaN});
  Tensor b = make_f32({5}, {0, 0, kInf, -kInf, 1});
  Tensor div_t = run_op("Div", {a, b}, 1)[0];
  const float* div = div_t.data_as<float>();
  EXPECT_EQ(div[0], kInf);           // 1/0
  EXPECT_TRUE(std::isnan(div[1]));   // 0/0
  EXPECT_TRUE(std::isnan(div[2]));   // inf/inf
  EXPECT_TRUE(std::isnan(div[4]));   // NaN/1
  Tensor add_t = run_op("Add", {a, b}, 1)[0];
  const float* add = add_t.data_as<float>();
  EXPECT_EQ(add[2], kInf);
  EXPECT_TRUE(std::isnan(add[3]));   // inf + -inf
  EXPECT_TRUE(std::isnan(add[4]));
  Tensor sq_t = run_op("Sqrt", {make_f32({3}, {-1, kInf, kNaN})}, 1)[0];
  const float* sq = sq_t.data_as<float>();
  EXPECT_TRUE(std::isnan(sq[0]));
  EXPECT_EQ(sq[1], kInf);
  EXPECT_TRUE(std::isnan(sq[2]));
}

TEST(NanInf, ActivationsKeepNaNAndSaturateAtInfinity) {
  Tensor x = make_f32({3}, {kNaN, kInf, -kInf});
  Tensor sig_t = run_op("Sigmoid", {x}, 1)[0];
  const float* sig = sig_t.data_as<float>();
  EXPECT_TRUE(std::isnan(sig[0]));
  EXPECT_EQ(sig[1], 1.f);
  EXPECT_EQ(sig[2], 0.f);
  Tensor th_t = run_op("Tanh", {x}, 1)[0];
  const float* th = th_t.data_as<float>();
  EXPECT_TRUE(std::isnan(th[0]));
  EXPECT_EQ(th[1], 1.f);
  EXPECT_EQ(th[2], -1.f);
  Tensor relu_t = run_op("Relu", {x}, 1)[0];
  const float* relu = relu_t.data_as<float>();
  EXPECT_TRUE(std::isnan(relu[0]));
  EXPECT_EQ(relu[1], kInf);
  EXPECT_EQ(relu[2], 0.f);
}

TEST(NanInf, ConvSpreadsNaNOnlyOverItsReceptiveField) {
  // 1x1x5x5 input with one NaN in the corner, 3x3 kernel of ones, no padding:
  // only the output pixel whose window covers the corner is NaN.
  std::vector<float> xv(25, 1.f);
  xv[0] = kNaN;
  Tensor x = make_f32({1, 1, 5, 5}, xv);
  Tensor w = make_f32({1, 1, 3, 3}, std::vector<float>(9, 1.f));
  Tensor y = run_op("Conv", {x, w}, 1)[0];
  ASSERT_EQ(y.shape(), (std::vector<int64_t>{1, 1, 3, 3}));
  for (int i = 0; i < 9; ++i) {
    if (i == 0) EXPECT_TRUE(std::isnan(y.data_as<float>()[i]));
    else EXPECT_EQ(y.data_as<float>()[i], 9.f) << i;
  }
}

TEST(NanInf, MatMulRowsWithInfinityAndNaN) {
  Tensor a = make_f32({3, 2}, {1, 2, kInf, 1, kNaN, 0});
  Tensor b = make_f32({2, 2}, {1, 0, 0, 1});
  Tensor y = run_op("MatMul", {a, b}, 1)[0];
  const float* v = y.data_as<float>();
  EXPECT_EQ(v[0], 1.f);
  EXPECT_EQ(v[1], 2.f);
  EXPECT_EQ(v[2], kInf);
  EXPECT_TRUE(std::isnan(v[3]));  // inf * 0 + 1 * 1
  EXPECT_TRUE(std::isnan(v[4]));
  EXPECT_TRUE(std::isnan(v[5]));
}

TEST(NanInf, CastOfNaNAndInfinityToIntegersDoesNotCrash) {
  // ONNX leaves the result undefined; kiln saturates (NaN → 0) instead of
  // performing an undefined C++ conversion.
  Tensor x = make_f32({3}, {kNaN, kInf, -kInf});
  Tensor y = run_op("Cast", {x}, 1, [](onnx::NodeProto& n) { attr(n, "to", int64_t{7}); })[0];
  EXPECT_EQ(y.data_as<int64_t>()[0], 0);
  EXPECT_EQ(y.data_as<int64_t>()[1], std::numeric_limits<int64_t>::max());
  EXPECT_EQ(y.data_as<int64_t>()[2], std::numeric_limits<int64_t>::min());
}

}  // namespace
}  // namespace kiln::test
