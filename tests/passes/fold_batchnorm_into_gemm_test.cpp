#include <gtest/gtest.h>

#include "passes/pass_test_util.h"

namespace kiln::test {
namespace {

constexpr double kTol = 1e-4;

struct GemmCase {
  std::string label;
  bool trans_b;
  float alpha, beta;
  std::vector<int64_t> c_shape;  // {} = no C; {0} = scalar
};

ModelBuilder gemm_bn(const GemmCase& g, int64_t m = 3, int64_t k = 5, int64_t n = 4) {
  ModelBuilder b(15);
  b.input("a", DType::Float32, {m, k});
  b.initializer("w", random_f32(g.trans_b ? std::vector<int64_t>{n, k} : std::vector<int64_t>{k, n}, 3));
  std::vector<std::string> ins = {"a", "w"};
  if (!g.c_shape.empty()) {
    std::vector<int64_t> shape = g.c_shape == std::vector<int64_t>{0} ? std::vector<int64_t>{} : g.c_shape;
    b.initializer("c", random_f32(shape, 4));
    ins.push_back("c");
  }
  auto& gemm = b.node("Gemm", ins, {"g"}, "gemm");
  attr(gemm, "transB", int64_t{g.trans_b});
  attr(gemm, "alpha", g.alpha);
  attr(gemm, "beta", g.beta);
  add_batchnorm(b, "g", "y", n, 5);
  b.output("y");
  return b;
}

class FoldIntoGemm : public testing::TestWithParam<GemmCase> {};

TEST_P(FoldIntoGemm, NoBatchNormLeftAndSameOutputs) {
  auto r = check_fusion(gemm_bn(GetParam()));
  EXPECT_EQ(r.count("BatchNormalization"), 0);
  EXPECT_EQ(r.count("Gemm"), 1);
  EXPECT_EQ(r.action("bn"), "folded into Gemm 'gemm'");
  EXPECT_LT(r.max_abs_diff, kTol);
}

INSTANTIATE_TEST_SUITE_P(Variants, FoldIntoGemm,
                         testing::Values(GemmCase{"noC", false, 1.f, 1.f, {}},
                                         GemmCase{"transB_noC", true, 1.f, 1.f, {}},
                                         GemmCase{"alpha_beta_vectorC", true, 0.5f, 2.f, {4}},
                                         GemmCase{"rowC", false, 1.5f, 0.25f, {1, 4}},
                                         GemmCase{"scalarC", true, 1.f, 3.f, {0}},
                                         GemmCase{"oneC", false, 1.f, -1.f, {1}}),
                         [](const auto& info) { return info.param.label; });

TEST(FoldIntoGemmRefusals, CVaryingAlongMIsRefused) {
  auto r = check_fusion(gemm_bn({"mn", false, 1.f, 1.f, {3, 4}}));
  EXPECT_EQ(r.count("BatchNormalization"), 1);
  EXPECT_NE(r.reason("bn").find("varies along M"), std::string::npos) << r.reason("bn");
  EXPECT_EQ(r.max_abs_diff, 0.0);
}

TEST(FoldIntoMatMul, TwoDimensionalMatMulBecomesGemm) {
  ModelBuilder b(15);
  b.input("a", DType::Float32, {-1, 6});
  b.initializer("w", random_f32({6, 3}, 3));
  b.node("MatMul", {"a", "w"}, {"m"}, "mm");
  add_batchnorm(b, "m", "y", 3, 9);
  b.output("y");
  auto r = check_fusion(b);
  EXPECT_EQ(r.count("BatchNormalization"), 0);
  EXPECT_EQ(r.count("MatMul"), 0);
  EXPECT_EQ(r.count("Gemm"), 1);
  EXPECT_LT(r.max_abs_diff, kTol);
}

TEST(FoldIntoMatMulRefusals, ChannelAxisNotLastIsRefused) {
  // [N, C, K] · [K, M]: BN's channel axis 1 is not the MatMul's last axis.
  ModelBuilder b(15);
  b.input("a", DType::Float32, {2, 3, 6});
  b.initializer("w", random_f32({6, 5}, 3));
  b.node("MatMul", {"a", "w"}, {"m"}, "mm");
  add_batchnorm(b, "m", "y", 3, 9);
  b.output("y");
  auto r = check_fusion(b);
  EXPECT_EQ(r.count("BatchNormalization"), 1);
  EXPECT_NE(r.reason("bn").find("last axis"), std::string::npos) << r.reason("bn");
  EXPECT_EQ(r.max_abs_diff, 0.0);
}

}  // namespace
}  // namespace kiln::test
