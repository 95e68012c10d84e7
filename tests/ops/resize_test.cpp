// Resize and Upsample: modes, coordinate transformations, sizes policies and errors.
#include <gtest/gtest.h>

#include "support/model_builder.h"
#include "support/test_util.h"

namespace kiln::test {
namespace {

std::vector<float> values(const Tensor& t) { return {t.data_as<float>(), t.data_as<float>() + t.numel()}; }

template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

// Resize-19 with inputs X, roi, scales, sizes (empty tensors omitted).
std::vector<Tensor> resize(const Tensor& x, const Tensor& roi, const Tensor& scales, const Tensor& sizes,
                           const std::function<void(onnx::NodeProto&)>& attrs, int opset = 19) {
  return run_op("Resize", {x, roi, scales, sizes}, 1, attrs, opset);
}

auto attrs(std::vector<std::pair<std::string, std::string>> s) {
  return [s](onnx::NodeProto& n) {
    for (const auto& [k, v] : s) attr(n, k, v);
  };
}

TEST(Resize, NearestUpsampleAsymmetricFloor) {
  auto x = make_f32({1, 1, 2, 2}, {1, 2, 3, 4});
  auto y = resize(x, {}, make_f32({4}, {1, 1, 2, 2}), {},
                  attrs({{"coordinate_transformation_mode", "asymmetric"}, {"nearest_mode", "floor"}}))[0];
  EXPECT_EQ(values(y), (std::vector<float>{1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4}));
}

TEST(Resize, NearestMovesIntegers) {
  Tensor x(DType::Int64, {1, 3});
  for (int i = 0; i < 3; ++i) x.data_as<int64_t>()[i] = (int64_t{1} << 60) + i;  // not exact in double
  auto y = resize(x, {}, {}, make_i64({2}, {1, 6}), attrs({{"nearest_mode", "floor"}}))[0];
  ASSERT_EQ(y.dtype(), DType::Int64);
  EXPECT_EQ(y.data_as<int64_t>()[5], (int64_t{1} << 60) + 2);
}

TEST(Resize, LinearHalfPixelAndAlignCorners) {
  auto x = make_f32({1, 2}, {0, 10});
  // half_pixel, 2 → 4: sources -0.25, 0.25, 0.75, 1.25 (clamped at the edges).
  auto y = resize(x, {}, make_f32({2}, {1, 2}), {}, attrs({{"mode", "linear"}}))[0];
  EXPECT_EQ(compare_tensors(y, make_f32({1, 4}, {0, 2.5f, 7.5f, 10}), 1e-6, 1e-6), "");
  auto z = resize(x, {}, {}, make_i64({2}, {1, 3}),
                  attrs({{"mode", "linear"}, {"coordinate_transformation_mode", "align_corners"}}))[0];
  EXPECT_EQ(compare_tensors(z, make_f32({1, 3}, {0, 5, 10}), 1e-6, 1e-6), "");
}

TEST(Resize, CubicKeepsLinearData) {
  // Keys' cubic with a = -0.5 reproduces a linear ramp away from the borders.
  auto x = make_f32({1, 8}, {0, 1, 2, 3, 4, 5, 6, 7});
  auto y = resize(x, {}, make_f32({2}, {1, 2}), {}, [](onnx::NodeProto& n) {
    attr(n, "mode", std::string("cubic"));
    attr(n, "coordinate_transformation_mode", std::string("align_corners"));
    attr(n, "cubic_coeff_a", -0.5f);
  })[0];
  ASSERT_EQ(y.shape(), (std::vector<int64_t>{1, 16}));
  double x_src = 7.0 * 7 / 15;  // source of output 7
  EXPECT_NEAR(values(y)[7], x_src, 1e-4);
}

TEST(Resize, TfCropAndResizeExtrapolates) {
  auto x = make_f32({1, 3}, {1, 2, 3});
  auto y = resize(x, make_f32({4}, {0, 0.5f, 1, 1.5f}), {}, make_i64({2}, {1, 3}), [](onnx::NodeProto& n) {
    attr(n, "mode", std::string("linear"));
    attr(n, "coordinate_transformation_mode", std::string("tf_crop_and_resize"));
    attr(n, "extrapolation_value", -1.f);
  })[0];
  // Sources along the last axis: 1, 2, 3 (beyond the input → extrapolated).
  EXPECT_EQ(values(y), (std::vector<float>{2, 3, -1}));
}

TEST(Resize, KeepAspectRatioNotLargerWithAxes) {
  auto x = Tensor(DType::Float32, {1, 1, 4, 8});
  auto y = resize(x, {}, {}, make_i64({2}, {3, 3}), [](onnx::NodeProto& n) {
    attr(n, "keep_aspect_ratio_policy", std::string("not_larger"));
    attr(n, "axes", std::vector<int64_t>{2, 3});
  })[0];
  EXPECT_EQ(y.shape(), (std::vector<int64_t>{1, 1, 2, 3}));  // scale 3/8: 1.5 → 2, 3
}

TEST(Resize, Opset10AndUpsample) {
  auto x = make_f32({1, 2}, {1, 2});
  auto y = run_op("Resize", {x, make_f32({2}, {1, 2})}, 1, {}, 10)[0];
  EXPECT_EQ(values(y), (std::vector<float>{1, 1, 2, 2}));
  auto l = run_op("Upsample", {x, make_f32({2}, {1, 2})}, 1,
                  [](onnx::NodeProto& n) { attr(n, "mode", std::string("linear")); }, 9)[0];
  EXPECT_EQ(compare_tensors(l, make_f32({1, 4}, {1, 1.5f, 2, 2}), 1e-6, 1e-6), "");
  auto u = run_op("Upsample", {x}, 1, [](onnx::NodeProto& n) { attr(n, "scales", std::vector<float>{1, 3}); }, 7)[0];
  EXPECT_EQ(values(u), (std::vector<float>{1, 1, 1, 2, 2, 2}));
}

TEST(Resize, Errors) {
  auto x = make_f32({1, 2}, {1, 2});
  EXPECT_NE(error_of([&] { resize(x, {}, make_f32({2}, {1, 2}), make_i64({2}, {1, 4}), {}); })
                .find("only one of scales and sizes"),
            std::string::npos);
  EXPECT_NE(error_of([&] { resize(x, {}, {}, {}, {}); }).find("one of scales and sizes must be given"), std::string::npos);
  EXPECT_NE(error_of([&] { resize(x, {}, make_f32({1}, {2}), {}, {}); }).find("scales has 1 values"), std::string::npos);
  EXPECT_NE(error_of([&] { resize(x, {}, make_f32({2}, {1, -2}), {}, {}); }).find("positive"), std::string::npos);
  EXPECT_NE(error_of([&] { resize(x, {}, make_f32({2}, {1, 2}), {}, attrs({{"mode", "area"}})); }).find("mode 'area'"),
            std::string::npos);
  Tensor xi(DType::Int32, {1, 2});
  EXPECT_NE(error_of([&] { resize(xi, {}, make_f32({2}, {1, 2}), {}, attrs({{"mode", "linear"}})); })
                .find("linear interpolation supports float32 and float64"),
            std::string::npos);
}

TEST(Resize, DynamicScalesGiveUnknownDims) {
  ModelBuilder b(19);
  b.input("x", DType::Float32, {1, 3, 4, 4});
  b.input("scales", DType::Float32, {4});
  b.node("Resize", {"x", "", "scales"}, {"y"});
  b.output("y");
  Session s = b.session();
  EXPECT_EQ(s.outputs()[0].shape, (std::vector<int64_t>{-1, -1, -1, -1}));
  auto out = s.run({Tensor(DType::Float32, {1, 3, 4, 4}), make_f32({4}, {1, 1, 2, 0.5f})});
  EXPECT_EQ(out[0].shape(), (std::vector<int64_t>{1, 3, 8, 2}));
}

}  // namespace
}  // namespace kiln::test
