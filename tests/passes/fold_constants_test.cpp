#include <gtest/gtest.h>

#include "passes/pass_test_util.h"

namespace kiln::test {
namespace {

TEST(FoldConstants, BatchNormParametersComputedByNodesBecomeFoldable) {
  // gamma = g0 * 2 (a Mul of two constants) must fold first, then the BN folds
  // into the Conv.
  ModelBuilder b(15);
  b.input("x", DType::Float32, {1, 3, 5, 5});
  b.initializer("w", random_f32({4, 3, 3, 3}, 1));
  b.node("Conv", {"x", "w"}, {"c"}, "conv");
  b.initializer("g0", random_f32({4}, 2, 0.5f, 1.f));
  b.initializer("two", make_f32({}, {2.f}));
  b.node("Mul", {"g0", "two"}, {"gamma"}, "mul");
  b.initializer("beta", random_f32({4}, 3));
  b.initializer("mean", random_f32({4}, 4));
  b.initializer("var", random_f32({4}, 5, 0.5f, 1.5f));
  b.node("BatchNormalization", {"c", "gamma", "beta", "mean", "var"}, {"y"}, "bn");
  b.output("y");
  auto r = check_fusion(b);
  EXPECT_EQ(r.count("Mul"), 0);
  EXPECT_EQ(r.count("BatchNormalization"), 0);
  EXPECT_EQ(r.action("mul"), "evaluated at load");
  EXPECT_EQ(r.report.constants_folded, 1);
  EXPECT_LT(r.max_abs_diff, 1e-4);
}

TEST(FoldConstants, ShapeArithmeticOnConstantsFolds) {
  ModelBuilder b(15);
  b.input("x", DType::Float32, {2, 3, 4});
  b.initializer("target", make_i64({2}, {6, 4}));
  b.initializer("one", make_i64({1}, {1}));
  b.node("Mul", {"target", "one"}, {"shape"}, "shape_mul");
  b.node("Reshape", {"x", "shape"}, {"y"}, "reshape");
  b.output("y");
  auto r = check_fusion(b);
  EXPECT_EQ(r.count("Mul"), 0);
  EXPECT_EQ(r.count("Reshape"), 1);
  EXPECT_EQ(r.max_abs_diff, 0.0);
}

}  // namespace
}  // namespace kiln::test
