#include <gtest/gtest.h>

#include "passes/pass_test_util.h"

namespace kiln::test {
namespace {

constexpr double kTol = 1e-4;

// x → BN → Conv(pads) : the "BN → weights" arrangement.
ModelBuilder bn_conv(std::vector<int64_t> pads, int64_t group = 1, bool bias = true) {
  ModelBuilder b(15);
  b.input("x", DType::Float32, {2, 4, 6, 6});
  add_batchnorm(b, "x", "n", 4, 3);
  b.initializer("w", random_f32({6, 4 / group, 3, 3}, 7));
  std::vector<std::string> ins = {"n", "w"};
  if (bias) {
    b.initializer("b", random_f32({6}, 8));
    ins.push_back("b");
  }
  auto& conv = b.node("Conv", ins, {"y"}, "conv");
  attr(conv, "pads", pads);
  attr(conv, "group", group);
  b.output("y");
  return b;
}

TEST(FoldIntoFollowing, UnpaddedConv) {
  auto r = check_fusion(bn_conv({0, 0, 0, 0}));
  EXPECT_EQ(r.count("BatchNormalization"), 0);
  EXPECT_EQ(r.action("bn"), "folded into the following Conv 'conv'");
  EXPECT_LT(r.max_abs_diff, kTol);
}

TEST(FoldIntoFollowing, UnpaddedGroupedConvWithoutBias) {
  auto r = check_fusion(bn_conv({0, 0, 0, 0}, 2, false));
  EXPECT_EQ(r.count("BatchNormalization"), 0);
  EXPECT_LT(r.max_abs_diff, kTol);
}

TEST(FoldIntoFollowing, ZeroPaddedConvIsRefused) {
  auto r = check_fusion(bn_conv({1, 1, 1, 1}));
  EXPECT_EQ(r.count("BatchNormalization"), 1);
  EXPECT_NE(r.reason("bn").find("zero-padded"), std::string::npos) << r.reason("bn");
  EXPECT_EQ(r.max_abs_diff, 0.0);
}

TEST(FoldIntoFollowing, GemmAndMatMul) {
  for (std::string op : {"Gemm", "MatMul"}) {
    ModelBuilder b(15);
    b.input("x", DType::Float32, {3, 5});
    add_batchnorm(b, "x", "n", 5, 3);
    b.initializer("w", random_f32({5, 4}, 7));
    std::vector<std::string> ins = {"n", "w"};
    if (op == "Gemm") {
      b.initializer("c", random_f32({4}, 9));
      ins.push_back("c");
    }
    auto& g = b.node(op, ins, {"y"}, "mm");
    if (op == "Gemm") {
      attr(g, "alpha", 0.5f);
      attr(g, "beta", 2.0f);
    }
    b.output("y");
    auto r = check_fusion(b);
    EXPECT_EQ(r.count("BatchNormalization"), 0) << op;
    EXPECT_EQ(r.count("Gemm"), 1) << op;
    EXPECT_LT(r.max_abs_diff, kTol) << op;
  }
}

TEST(FoldIntoFollowing, GemmWithTransposedB) {
  ModelBuilder b(15);
  b.input("x", DType::Float32, {3, 5});
  add_batchnorm(b, "x", "n", 5, 3);
  b.initializer("w", random_f32({4, 5}, 7));
  attr(b.node("Gemm", {"n", "w"}, {"y"}, "gemm"), "transB", int64_t{1});
  b.output("y");
  auto r = check_fusion(b);
  EXPECT_EQ(r.count("BatchNormalization"), 0);
  EXPECT_LT(r.max_abs_diff, kTol);
}

}  // namespace
}  // namespace kiln::test
