#include <gtest/gtest.h>

#include "passes/pass_test_util.h"

namespace kiln::test {
namespace {

TEST(RemoveIdentities, IdentityChainsAndInferenceDropoutGo) {
  ModelBuilder b(15);
  b.input("x", DType::Float32, {2, 3});
  b.node("Relu", {"x"}, {"r"}, "relu");
  b.node("Identity", {"r"}, {"i1"}, "id1");
  b.node("Dropout", {"i1"}, {"d"}, "drop");
  b.node("Identity", {"d"}, {"y"}, "id2");  // writes the graph output
  b.output("y");
  auto r = check_fusion(b);
  EXPECT_EQ(r.count("Identity"), 0);
  EXPECT_EQ(r.count("Dropout"), 0);
  EXPECT_EQ(r.count("Relu"), 1);
  EXPECT_EQ(r.action("id2"), "removed");
  EXPECT_EQ(r.max_abs_diff, 0.0);
}

TEST(RemoveIdentities, IdentityFromGraphInputToOutputStays) {
  ModelBuilder b(15);
  b.input("x", DType::Float32, {2, 3});
  b.node("Identity", {"x"}, {"y"}, "id");
  b.output("y");
  auto r = check_fusion(b);
  EXPECT_EQ(r.count("Identity"), 1);
  EXPECT_EQ(r.action("id"), "kept");
}

TEST(RemoveIdentities, DropoutWhoseMaskIsUsedStays) {
  ModelBuilder b(15);
  b.input("x", DType::Float32, {2, 3});
  b.node("Relu", {"x"}, {"r"}, "relu");
  b.node("Dropout", {"r"}, {"d", "mask"}, "drop");
  b.output("d");
  b.output("mask");
  auto r = check_fusion(b);
  EXPECT_EQ(r.count("Dropout"), 1);
  EXPECT_NE(r.reason("drop").find("mask"), std::string::npos);
}

TEST(RemoveIdentities, PadOfZerosGoesAnyOtherStays) {
  for (const bool zero : {true, false}) {
    ModelBuilder b(13);
    b.input("x", DType::Float32, {1, 2, 3, 3});
    b.node("Relu", {"x"}, {"r"}, "relu");
    b.initializer("pads", make_i64({8}, {0, 0, 0, zero ? 0 : 1, 0, 0, 0, 0}));
    b.node("Pad", {"r", "pads"}, {"p"}, "pad");
    b.node("Neg", {"p"}, {"y"}, "neg");
    b.output("y");
    auto r = check_fusion(b);
    EXPECT_EQ(r.count("Pad"), zero ? 0 : 1);
    if (zero) EXPECT_EQ(r.reason("pad"), "every pad is 0");
    EXPECT_EQ(r.max_abs_diff, 0.0);
  }
  // Before opset 11 the pads are an attribute.
  ModelBuilder b(10);
  b.input("x", DType::Float32, {1, 2, 3, 3});
  b.node("Relu", {"x"}, {"r"}, "relu");
  auto& pad = b.node("Pad", {"r"}, {"p"}, "pad");
  attr(pad, "pads", std::vector<int64_t>{0, 0, 0, 0, 0, 0, 0, 0});
  b.node("Neg", {"p"}, {"y"}, "neg");
  b.output("y");
  EXPECT_EQ(check_fusion(b).count("Pad"), 0);
}

}  // namespace
}  // namespace kiln::test
