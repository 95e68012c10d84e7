#include <gtest/gtest.h>

#include "passes/pass_test_util.h"

namespace kiln::test {
namespace {

constexpr double kTol = 1e-5;

struct ActCase {
  std::string op;
  std::function<void(ModelBuilder&, onnx::NodeProto&)> setup;
};

ModelBuilder conv_act(const std::string& act, const std::function<void(ModelBuilder&, onnx::NodeProto&)>& setup,
                      int opset = 15) {
  ModelBuilder b(opset);
  b.input("x", DType::Float32, {1, 3, 6, 6});
  b.initializer("w", random_f32({4, 3, 3, 3}, 1));
  b.initializer("b", random_f32({4}, 2));
  b.node("Conv", {"x", "w", "b"}, {"c"}, "conv");
  auto& a = b.node(act, {"c"}, {"y"}, "act");
  if (setup) setup(b, a);
  b.output("y");
  return b;
}

class FuseActivation : public testing::TestWithParam<ActCase> {};

TEST_P(FuseActivation, IntoConvEpilogue) {
  auto r = check_fusion(conv_act(GetParam().op, GetParam().setup));
  EXPECT_EQ(r.count(GetParam().op), 0);
  EXPECT_EQ(r.count("FusedConv"), 1);
  EXPECT_EQ(r.report.fused_activations, 1);
  EXPECT_EQ(r.action("act"), "fused into Conv 'conv'");
  EXPECT_LT(r.max_abs_diff, kTol);
}

INSTANTIATE_TEST_SUITE_P(
    Activations, FuseActivation,
    testing::Values(ActCase{"Relu", {}}, ActCase{"Sigmoid", {}}, ActCase{"Tanh", {}}, ActCase{"HardSwish", {}},
                    ActCase{"LeakyRelu", [](ModelBuilder&, onnx::NodeProto& n) { attr(n, "alpha", 0.2f); }},
                    ActCase{"HardSigmoid",
                            [](ModelBuilder&, onnx::NodeProto& n) {
                              attr(n, "alpha", 0.3f);
                              attr(n, "beta", 0.4f);
                            }},
                    ActCase{"Clip",
                            [](ModelBuilder& b, onnx::NodeProto& n) {  // Relu6 in the opset-11+ input form
                              b.initializer("lo", make_f32({}, {0.f}));
                              b.initializer("hi", make_f32({}, {0.5f}));
                              n.add_input("lo");
                              n.add_input("hi");
                            }}),
    [](const auto& info) { return info.param.op; });

TEST(FuseActivation, ClipWithRuntimeBoundsStays) {
  ModelBuilder b = conv_act("Clip", {});
  b.input("hi", DType::Float32, {});
  auto& clip = *b.proto().mutable_graph()->mutable_node(1);
  clip.add_input("");
  clip.add_input("hi");
  auto r = check_fusion(b);
  EXPECT_EQ(r.count("Clip"), 1);
}

TEST(FuseActivation, SiluPatternIntoGemm) {
  ModelBuilder b(15);
  b.input("a", DType::Float32, {2, 5});
  b.initializer("w", random_f32({5, 3}, 1));
  b.node("Gemm", {"a", "w"}, {"g"}, "gemm");
  b.node("Sigmoid", {"g"}, {"s"}, "sig");
  b.node("Mul", {"g", "s"}, {"y"}, "mul");
  b.output("y");
  auto r = check_fusion(b);
  EXPECT_EQ(r.count("Sigmoid"), 0);
  EXPECT_EQ(r.count("Mul"), 0);
  EXPECT_EQ(r.count("FusedGemm"), 1);
  EXPECT_EQ(r.report.fused_activations, 1);
  EXPECT_LT(r.max_abs_diff, kTol);
}

TEST(FuseActivation, BatchNormFoldsThenReluFusesIntoConv) {
  ModelBuilder b(15);
  b.input("x", DType::Float32, {1, 3, 6, 6});
  b.initializer("w", random_f32({4, 3, 3, 3}, 1));
  b.node("Conv", {"x", "w"}, {"c"}, "conv");
  add_batchnorm(b, "c", "n", 4, 5);
  b.node("Relu", {"n"}, {"y"}, "relu");
  b.output("y");
  auto r = check_fusion(b);
  EXPECT_EQ(r.graph->nodes().size(), 1u);
  EXPECT_EQ(r.count("FusedConv"), 1);
  EXPECT_LT(r.max_abs_diff, 1e-4);
}

TEST(FuseActivation, StandaloneBatchNormTakesTheActivation) {
  // BN after Concat cannot fold; the Relu still fuses into its epilogue.
  ModelBuilder b(15);
  b.input("x", DType::Float32, {1, 2, 4, 4});
  attr(b.node("Concat", {"x", "x"}, {"cat"}, "concat"), "axis", int64_t{1});
  add_batchnorm(b, "cat", "n", 4, 5);
  b.node("Relu", {"n"}, {"y"}, "relu");
  b.output("y");
  auto r = check_fusion(b);
  EXPECT_EQ(r.count("FusedBatchNormalization"), 1);
  EXPECT_EQ(r.count("Relu"), 0);
  EXPECT_LT(r.max_abs_diff, kTol);
}

TEST(FuseActivation, ProducerWithOtherReadersIsRefused) {
  ModelBuilder b = conv_act("Relu", {});
  b.node("Sigmoid", {"c"}, {"z"}, "other");
  b.output("z");
  auto r = check_fusion(b);
  EXPECT_EQ(r.count("Relu"), 1);
  EXPECT_NE(r.reason("act").find("other readers"), std::string::npos) << r.reason("act");
  EXPECT_EQ(r.max_abs_diff, 0.0);
}

}  // namespace
}  // namespace kiln::test
