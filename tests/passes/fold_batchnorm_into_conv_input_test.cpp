#include <gtest/gtest.h>

#include "ops/fused.h"
#include "passes/pass_test_util.h"

namespace kiln::test {
namespace {

constexpr double kTol = 1e-4;

struct Layer {
  std::vector<int64_t> x{2, 12, 6, 7};
  int64_t out = 8, k = 1, group = 1;
  std::vector<int64_t> pads, strides;
  std::string act = "Relu";  // between the BN and the Conv: Relu, Clip, or "" for none
  bool residual = false;     // Add(conv, z) after the Conv
  bool bias = true;
};

// DenseNet's dense layer: x → BN → Relu → Conv 1×1 (→ + z) → y.
ModelBuilder layer(const Layer& l) {
  ModelBuilder b(19);
  const int64_t c = l.x[1];
  b.input("x", DType::Float32, l.x);
  add_batchnorm(b, "x", "n", c, 3);
  std::string in = "n";
  if (l.act == "Relu") {
    b.node("Relu", {"n"}, {"r"}, "relu");
    in = "r";
  } else if (l.act == "Clip") {
    b.initializer("lo", make_f32({}, {0.f}));
    b.initializer("hi", make_f32({}, {6.f}));
    b.node("Clip", {"n", "lo", "hi"}, {"r"}, "clip");
    in = "r";
  }
  b.initializer("w", random_f32({l.out, c / l.group, l.k, l.k}, 7));
  std::vector<std::string> ins{in, "w"};
  if (l.bias) {
    b.initializer("b", random_f32({l.out}, 8));
    ins.push_back("b");
  }
  auto& conv = b.node("Conv", ins, {l.residual ? "c" : "y"}, "conv");
  attr(conv, "group", l.group);
  if (!l.pads.empty()) attr(conv, "pads", l.pads);
  if (!l.strides.empty()) attr(conv, "strides", l.strides);
  if (l.residual) {
    std::vector<int64_t> zs = l.x;
    zs[1] = l.out;
    b.input("z", DType::Float32, zs);
    b.node("Add", {"c", "z"}, {"y"}, "add");
  }
  b.output("y");
  return b;
}

void expect_folded(const FusionResult& r, const std::string& map = "Relu") {
  EXPECT_EQ(r.action("bn"), "folded into the input of Conv 'conv'") << r.reason("bn");
  EXPECT_EQ(r.count("BatchNormalization") + r.count("FusedBatchNormalization"), 0);
  for (const auto& n : r.graph->nodes())
    if (n->name == "conv") EXPECT_EQ(n->attr_string(ops::kPrologueAttr, "absent"), map);
  EXPECT_LT(r.max_abs_diff, kTol);
}

TEST(FoldBatchNormIntoConvInput, DenseLayer) {
  expect_folded(check_fusion(layer({})));
  Layer l;
  l.bias = false;
  expect_folded(check_fusion(layer(l)));
}

TEST(FoldBatchNormIntoConvInput, AndTheResidualAddAfter) {
  Layer l;
  l.residual = true;
  auto r = check_fusion(layer(l));
  expect_folded(r);
  EXPECT_EQ(r.count("Add"), 0);
}

TEST(FoldBatchNormIntoConvInput, GroupedConv) {
  Layer l;
  l.group = 3;
  l.out = 9;
  expect_folded(check_fusion(layer(l)));
}

TEST(FoldBatchNormIntoConvInput, EveryKernelPath) {
  // Many positions and channels (the GEMM packs X: mapped as packed), few
  // positions (the transposed GEMM reads X in place: mapped into scratch
  // first), few input channels (the direct small-C kernel, likewise), one
  // pixel (a GEMV).
  for (const std::vector<int64_t>& x : {std::vector<int64_t>{1, 40, 19, 21}, std::vector<int64_t>{2, 40, 3, 3},
                                        std::vector<int64_t>{2, 3, 9, 9}, std::vector<int64_t>{3, 40, 1, 1}}) {
    Layer l;
    l.x = x;
    l.out = 70;
    expect_folded(check_fusion(layer(l)));
    SessionOptions two;
    two.threads = 2;
    expect_folded(check_fusion(layer(l), two));
  }
}

TEST(FoldBatchNormIntoConvInput, Refused) {
  {
    Layer l;
    l.k = 3;
    l.pads = {1, 1, 1, 1};
    auto r = check_fusion(layer(l));
    EXPECT_NE(r.reason("bn").find("its kernel is not 1×1"), std::string::npos) << r.reason("bn");
    EXPECT_EQ(r.count("FusedBatchNormalization"), 1);
  }
  {
    Layer l;
    l.strides = {2, 2};
    auto r = check_fusion(layer(l));
    EXPECT_NE(r.reason("bn").find("strided"), std::string::npos) << r.reason("bn");
  }
  {
    Layer l;
    l.act = "Clip";
    auto r = check_fusion(layer(l));
    EXPECT_NE(r.reason("bn").find("not Relu"), std::string::npos) << r.reason("bn");
    EXPECT_LT(r.max_abs_diff, kTol);
  }
}

TEST(FoldBatchNormIntoConvInput, NotWhenTheBnHasAnotherReader) {
  ModelBuilder b(19);
  b.input("x", DType::Float32, {1, 4, 5, 5});
  add_batchnorm(b, "x", "n", 4, 3);
  b.node("Relu", {"n"}, {"r"}, "relu");
  b.initializer("w", random_f32({6, 4, 1, 1}, 7));
  b.node("Conv", {"r", "w"}, {"y"}, "conv");
  b.node("Neg", {"r"}, {"z"}, "neg");
  b.output("y");
  b.output("z");
  auto r = check_fusion(b);
  EXPECT_EQ(r.count("FusedBatchNormalization"), 1);
  EXPECT_LT(r.max_abs_diff, kTol);
}

}  // namespace
}  // namespace kiln::test
