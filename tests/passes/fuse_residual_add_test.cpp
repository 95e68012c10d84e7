#include <gtest/gtest.h>

#include "passes/pass_test_util.h"

namespace kiln::test {
namespace {

// x → Conv → BN → (+ x) → Relu: the ResNet basic block's tail.
ModelBuilder residual_block(bool relu_first = false) {
  ModelBuilder b(15);
  b.input("x", DType::Float32, {2, 4, 5, 5});
  b.initializer("w", random_f32({4, 4, 3, 3}, 1));
  auto& conv = b.node("Conv", {"x", "w"}, {"c"}, "conv");
  attr(conv, "pads", std::vector<int64_t>{1, 1, 1, 1});
  add_batchnorm(b, "c", "n", 4, 5);
  if (relu_first) {
    b.node("Relu", {"n"}, {"r"}, "relu");
    b.node("Add", {"r", "x"}, {"y"}, "add");
  } else {
    b.node("Add", {"x", "n"}, {"s"}, "add");
    b.node("Relu", {"s"}, {"y"}, "relu");
  }
  b.output("y");
  return b;
}

TEST(FuseResidualAdd, AddThenReluFoldIntoOneConv) {
  auto r = check_fusion(residual_block());
  EXPECT_EQ(r.graph->nodes().size(), 1u);
  EXPECT_EQ(r.count("FusedConv"), 1);
  EXPECT_EQ(r.report.fused_adds, 1);
  EXPECT_EQ(r.report.fused_activations, 1);
  EXPECT_EQ(r.report.batchnorm_folded, 1);
  EXPECT_LT(r.max_abs_diff, 1e-4);
}

TEST(FuseResidualAdd, NotAfterAnActivation) {
  // relu(conv) + x is not relu(conv + x): the Add must stay.
  auto r = check_fusion(residual_block(true));
  EXPECT_EQ(r.count("Add"), 1);
  EXPECT_NE(r.reason("add").find("already has an activation"), std::string::npos) << r.reason("add");
  EXPECT_LT(r.max_abs_diff, 1e-4);
}

TEST(FuseResidualAdd, BroadcastingOperandIsRefused) {
  ModelBuilder b(15);
  b.input("x", DType::Float32, {1, 3, 4, 4});
  b.initializer("w", random_f32({4, 3, 1, 1}, 1));
  b.node("Conv", {"x", "w"}, {"c"}, "conv");
  b.initializer("bias", random_f32({4, 1, 1}, 2));
  b.node("Add", {"c", "bias"}, {"y"}, "add");
  b.output("y");
  auto r = check_fusion(b);
  EXPECT_EQ(r.count("Add"), 1);
  EXPECT_NE(r.reason("add").find("shape"), std::string::npos) << r.reason("add");
  EXPECT_EQ(r.max_abs_diff, 0.0);
}

TEST(FuseResidualAdd, FreeDimsThatBroadcastAtRunTimeStayExact) {
  // Both batch dims are free: the pass fuses, and when the run feeds batch 2
  // against batch 1 the fused node must broadcast as the Add would.
  ModelBuilder b(15);
  b.input("x", DType::Float32, {-1, 4, 5, 5});
  b.input("z", DType::Float32, {-1, 4, 5, 5});
  b.initializer("w", random_f32({4, 4, 1, 1}, 1));
  b.node("Conv", {"x", "w"}, {"c"}, "conv");
  b.node("Add", {"c", "z"}, {"s"}, "add");
  b.node("Relu", {"s"}, {"y"}, "relu");
  b.output("y");
  auto r = check_fusion(b);
  EXPECT_EQ(r.count("Add"), 0);
  SessionOptions off;
  off.fusion = false;
  Tensor x = random_f32({2, 4, 5, 5}, 3), z = random_f32({1, 4, 5, 5}, 4);
  auto fused = b.session().run({x, z});
  auto unfused = b.session(off).run({x, z});
  ASSERT_EQ(fused[0].shape(), (std::vector<int64_t>{2, 4, 5, 5}));
  EXPECT_EQ(compare_tensors(fused[0], unfused[0], 1e-5, 1e-5), "");
  // And the other way round: the residual is the bigger one.
  auto fused2 = b.session().run({z, x});
  auto unfused2 = b.session(off).run({z, x});
  ASSERT_EQ(fused2[0].shape(), (std::vector<int64_t>{2, 4, 5, 5}));
  EXPECT_EQ(compare_tensors(fused2[0], unfused2[0], 1e-5, 1e-5), "");
}

}  // namespace
}  // namespace kiln::test
