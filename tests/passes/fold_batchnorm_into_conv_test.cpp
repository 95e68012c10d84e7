#include <gtest/gtest.h>

#include "passes/batchnorm_affine.h"
#include "passes/pass_test_util.h"

namespace kiln::test {
namespace {

constexpr double kTol = 1e-4;  // fused and unfused differ only by float rounding

struct ConvCase {
  std::string label;
  std::vector<int64_t> x_shape;  // N, C, spatial…
  int64_t cout, group;
  bool bias;
};

ModelBuilder conv_bn(const ConvCase& c, bool transpose = false) {
  ModelBuilder b(15);
  b.input("x", DType::Float32, c.x_shape);
  int64_t cin = c.x_shape[1];
  std::vector<int64_t> w_shape = transpose ? std::vector<int64_t>{cin, c.cout / c.group}
                                           : std::vector<int64_t>{c.cout, cin / c.group};
  std::vector<int64_t> kernel;
  for (size_t i = 2; i < c.x_shape.size(); ++i) {
    w_shape.push_back(3);
    kernel.push_back(3);
  }
  b.initializer("w", random_f32(w_shape, 7));
  std::vector<std::string> ins = {"x", "w"};
  if (c.bias) {
    b.initializer("b", random_f32({c.cout}, 8));
    ins.push_back("b");
  }
  auto& conv = b.node(transpose ? "ConvTranspose" : "Conv", ins, {"c"}, "conv");
  attr(conv, "group", c.group);
  attr(conv, "pads", std::vector<int64_t>(2 * kernel.size(), 1));
  add_batchnorm(b, "c", "y", c.cout, 11);
  b.output("y");
  return b;
}

class FoldIntoConv : public testing::TestWithParam<ConvCase> {};

TEST_P(FoldIntoConv, NoBatchNormLeftAndSameOutputs) {
  auto r = check_fusion(conv_bn(GetParam()));
  EXPECT_EQ(r.count("BatchNormalization"), 0);
  EXPECT_EQ(r.count("Conv"), 1);
  EXPECT_EQ(r.report.batchnorm_nodes, 1);
  EXPECT_EQ(r.report.batchnorm_folded, 1);
  EXPECT_EQ(r.action("bn"), "folded into Conv 'conv'");
  EXPECT_LT(r.max_abs_diff, kTol);
}

INSTANTIATE_TEST_SUITE_P(Variants, FoldIntoConv,
                         testing::Values(ConvCase{"plain2d", {2, 4, 6, 6}, 8, 1, true},
                                         ConvCase{"nobias", {1, 4, 5, 7}, 6, 1, false},
                                         ConvCase{"grouped", {1, 4, 6, 6}, 8, 2, true},
                                         ConvCase{"depthwise", {1, 6, 6, 6}, 6, 6, false},
                                         ConvCase{"conv1d", {2, 3, 9}, 5, 1, true},
                                         ConvCase{"conv3d", {1, 2, 4, 4, 4}, 4, 1, false},
                                         ConvCase{"dynamic_batch", {-1, 4, 6, 6}, 8, 1, true}),
                         [](const auto& info) { return info.param.label; });

class FoldIntoConvTranspose : public testing::TestWithParam<ConvCase> {};

TEST_P(FoldIntoConvTranspose, NoBatchNormLeftAndSameOutputs) {
  auto r = check_fusion(conv_bn(GetParam(), true));
  EXPECT_EQ(r.count("BatchNormalization"), 0);
  EXPECT_EQ(r.action("bn"), "folded into ConvTranspose 'conv'");
  EXPECT_LT(r.max_abs_diff, kTol);
}

INSTANTIATE_TEST_SUITE_P(Variants, FoldIntoConvTranspose,
                         testing::Values(ConvCase{"plain", {1, 4, 5, 5}, 6, 1, true},
                                         ConvCase{"grouped", {2, 4, 5, 5}, 6, 2, false},
                                         ConvCase{"grouped_bias", {1, 6, 4, 4}, 9, 3, true}),
                         [](const auto& info) { return info.param.label; });

TEST(FoldIntoConvRefusals, TrainingModeIsNeverFolded) {
  ModelBuilder b = conv_bn({"t", {2, 4, 6, 6}, 8, 1, true});
  auto& bn = *b.proto().mutable_graph()->mutable_node(1);
  attr(bn, "training_mode", int64_t{1});
  auto r = check_fusion(b);
  EXPECT_EQ(r.count("BatchNormalization"), 1);
  EXPECT_EQ(r.action("bn"), "kept");
  EXPECT_NE(r.reason("bn").find("training mode"), std::string::npos) << r.reason("bn");
  EXPECT_EQ(r.max_abs_diff, 0.0);
}

TEST(FoldIntoConvRefusals, BatchNormModeInferenceFoldsTrainingNodes) {
  ModelBuilder b = conv_bn({"t", {2, 4, 6, 6}, 8, 1, true});
  attr(*b.proto().mutable_graph()->mutable_node(1), "training_mode", int64_t{1});
  SessionOptions o;
  o.batchnorm_mode = BatchNormMode::Inference;
  auto r = check_fusion(b, o);
  EXPECT_EQ(r.count("BatchNormalization"), 0);
  ASSERT_FALSE(r.report.warnings.empty());
  EXPECT_NE(r.report.warnings[0].find("training mode"), std::string::npos);
  EXPECT_LT(r.max_abs_diff, kTol);
}

TEST(FoldIntoConvRefusals, BatchNormModeTrainingKeepsEverything) {
  SessionOptions o;
  o.batchnorm_mode = BatchNormMode::Training;
  auto r = check_fusion(conv_bn({"t", {2, 4, 6, 6}, 8, 1, true}), o);
  EXPECT_EQ(r.count("BatchNormalization"), 1);
  EXPECT_EQ(r.max_abs_diff, 0.0);
}

TEST(FoldIntoConvRefusals, NonConstantParameters) {
  ModelBuilder b(15);
  b.input("x", DType::Float32, {1, 4, 6, 6});
  b.input("gamma", DType::Float32, {8});
  b.initializer("w", random_f32({8, 4, 3, 3}, 7));
  b.node("Conv", {"x", "w"}, {"c"}, "conv");
  b.initializer("beta", random_f32({8}, 1));
  b.initializer("mean", random_f32({8}, 2));
  b.initializer("var", random_f32({8}, 3, 0.5f, 1.5f));
  b.node("BatchNormalization", {"c", "gamma", "beta", "mean", "var"}, {"y"}, "bn");
  b.output("y");
  auto r = check_fusion(b);
  EXPECT_EQ(r.count("BatchNormalization"), 1);
  EXPECT_NE(r.reason("bn").find("scale is not a constant"), std::string::npos) << r.reason("bn");
}

TEST(FoldIntoConvRefusals, ConvOutputWithOtherReaders) {
  ModelBuilder b = conv_bn({"t", {1, 4, 6, 6}, 8, 1, true});
  b.node("Relu", {"c"}, {"r"}, "other_reader");
  b.output("r");
  auto r = check_fusion(b);
  EXPECT_EQ(r.count("BatchNormalization"), 1);
  EXPECT_NE(r.reason("bn").find("other readers"), std::string::npos) << r.reason("bn");
  EXPECT_EQ(r.max_abs_diff, 0.0);
}

TEST(FoldIntoConvRefusals, ConvOutputIsGraphOutput) {
  ModelBuilder b = conv_bn({"t", {1, 4, 6, 6}, 8, 1, true});
  b.output("c");
  auto r = check_fusion(b);
  EXPECT_EQ(r.count("BatchNormalization"), 1);
  EXPECT_NE(r.reason("bn").find("graph output"), std::string::npos) << r.reason("bn");
}

TEST(FoldIntoConv, SharedWeightsAreClonedNotChanged) {
  // Two convs share one weight; only the first is followed by a BN.
  ModelBuilder b(15);
  b.input("x", DType::Float32, {1, 4, 5, 5});
  b.initializer("w", random_f32({4, 4, 1, 1}, 7));
  b.node("Conv", {"x", "w"}, {"c"}, "conv");
  add_batchnorm(b, "c", "y", 4, 21);
  b.node("Conv", {"y", "w"}, {"z"}, "conv2");
  b.output("z");
  auto r = check_fusion(b);
  EXPECT_EQ(r.count("BatchNormalization"), 0);
  EXPECT_LT(r.max_abs_diff, kTol);
}

TEST(FoldDestination, OverwritesOnlyWhatNoOneElseReads) {
  // A fold may scale a weight in place only when the node it folds into is
  // the weight's one reader and no other tensor shares the storage.
  ir::Graph g;
  ir::Value* x = g.value("x");
  ir::Value* w = g.add_constant("w", random_f32({4, 4, 1, 1}, 7));
  ir::Node* conv = g.add_node("Conv", "", "conv");
  conv->inputs = {x, w};
  conv->outputs = {g.value("y")};
  g.inputs.push_back(x);
  g.outputs.push_back(conv->outputs[0]);
  g.finalize();
  const void* storage = w->constant->data();
  EXPECT_EQ(passes::fold_destination(*w, *conv).data(), storage);

  Tensor kept = *w->constant;  // shares the storage: it must survive the fold
  Tensor d = passes::fold_destination(*w, *conv);
  EXPECT_NE(d.data(), storage);
  EXPECT_EQ(d.shape(), kept.shape());
  kept = Tensor();

  ir::Node* other = g.add_node("Conv", "", "conv2");  // a second reader
  other->inputs = {x, w};
  other->outputs = {g.value("z")};
  g.outputs.push_back(other->outputs[0]);
  g.finalize();
  EXPECT_NE(passes::fold_destination(*w, *conv).data(), storage);
}

TEST(FoldIntoConv, ChainsFoldToAFixedPoint) {
  // Conv → BN → Conv → BN
  ModelBuilder b(15);
  b.input("x", DType::Float32, {1, 3, 6, 6});
  b.initializer("w1", random_f32({4, 3, 3, 3}, 1));
  b.initializer("w2", random_f32({5, 4, 1, 1}, 2));
  b.node("Conv", {"x", "w1"}, {"c1"}, "conv1");
  add_batchnorm(b, "c1", "y1", 4, 31, "bn1");
  b.node("Conv", {"y1", "w2"}, {"c2"}, "conv2");
  add_batchnorm(b, "c2", "y2", 5, 41, "bn2");
  b.output("y2");
  auto r = check_fusion(b);
  EXPECT_EQ(r.count("BatchNormalization"), 0);
  EXPECT_EQ(r.report.batchnorm_folded, 2);
  EXPECT_LT(r.max_abs_diff, kTol);
}

TEST(FoldIntoConv, BatchNormAfterConcatStaysAndExplainsWhy) {
  ModelBuilder b(15);
  b.input("x", DType::Float32, {1, 2, 4, 4});
  attr(b.node("Concat", {"x", "x"}, {"cat"}, "concat"), "axis", int64_t{1});
  add_batchnorm(b, "cat", "y", 4, 51);
  b.output("y");
  auto r = check_fusion(b);
  EXPECT_EQ(r.count("BatchNormalization"), 1);
  EXPECT_NE(r.reason("bn").find("Concat"), std::string::npos) << r.reason("bn");
  EXPECT_EQ(r.max_abs_diff, 0.0);
}

}  // namespace
}  // namespace kiln::test

namespace kiln::test {
namespace {

// The numeric audit: a fold whose scale exceeds 1e4 (tiny running variance)
// and folded weights that turn subnormal are reported, not hidden.
TEST(FoldAudit, HugeScaleAndSubnormalWeightsAreReported) {
  ModelBuilder b(15);
  b.input("x", DType::Float32, {1, 2, 4, 4});
  // Channel 0's weights are tiny; channel 1's variance is tiny.
  b.initializer("w", make_f32({2, 2, 1, 1}, {1e-36f, 1e-36f, 0.5f, -0.25f}));
  b.node("Conv", {"x", "w"}, {"c"}, "conv");
  b.initializer("gamma", make_f32({2}, {1e-4f, 1.f}));
  b.initializer("beta", make_f32({2}, {0.f, 0.f}));
  b.initializer("mean", make_f32({2}, {0.f, 0.f}));
  b.initializer("var", make_f32({2}, {1.f, 1e-12f}));
  auto& bn = b.node("BatchNormalization", {"c", "gamma", "beta", "mean", "var"}, {"y"}, "bn");
  attr(bn, "epsilon", 1e-12f);
  b.output("y");
  auto r = check_fusion(b);
  EXPECT_EQ(r.count("BatchNormalization"), 0);
  bool scale_warned = false, subnormal_warned = false;
  for (const auto& w : r.report.warnings) {
    scale_warned = scale_warned || w.find("tiny running variance") != std::string::npos;
    subnormal_warned = subnormal_warned || w.find("subnormal") != std::string::npos;
  }
  EXPECT_TRUE(scale_warned);
  EXPECT_TRUE(subnormal_warned);
}

}  // namespace
}  // namespace kiln::test
