// Shape-op family: values, edge cases, partial-shape inference and errors.
#include <gtest/gtest.h>

#include <cstring>

#include "support/model_builder.h"
#include "support/test_util.h"

namespace kiln::test {
namespace {

std::vector<float> values_f32(const Tensor& t) { return {t.data_as<float>(), t.data_as<float>() + t.numel()}; }
std::vector<int64_t> values_i64(const Tensor& t) { return {t.data_as<int64_t>(), t.data_as<int64_t>() + t.numel()}; }

// The message of the kiln::Error that `f` throws ("" if none).
template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

#define EXPECT_ERROR_CONTAINS(stmt, text)               \
  do {                                                  \
    std::string msg_ = error_of([&] { stmt; });         \
    EXPECT_NE(msg_.find(text), std::string::npos) << "message: '" << msg_ << "'"; \
  } while (0)

TEST(ShapeOps, ReshapeZeroAndMinusOne) {
  auto y = run_op("Reshape", {iota_f32({2, 3, 4}), make_i64({2}, {0, -1})}, 1);
  EXPECT_EQ(y[0].shape(), (std::vector<int64_t>{2, 12}));
  EXPECT_EQ(values_f32(y[0])[13], 13.f);
}

TEST(ShapeOps, ReshapeAllowZeroKeepsZeroDim) {
  auto y = run_op("Reshape", {Tensor(DType::Float32, {0, 3}), make_i64({2}, {3, 0})}, 1,
                  [](onnx::NodeProto& n) { attr(n, "allowzero", int64_t{1}); }, 14);
  EXPECT_EQ(y[0].shape(), (std::vector<int64_t>{3, 0}));
}

TEST(ShapeOps, ReshapeErrors) {
  EXPECT_ERROR_CONTAINS(run_op("Reshape", {iota_f32({2, 3}), make_i64({2}, {-1, -1})}, 1), "more than one -1");
  EXPECT_ERROR_CONTAINS(run_op("Reshape", {iota_f32({2, 3}), make_i64({2}, {4, 2})}, 1), "element counts differ");
  EXPECT_ERROR_CONTAINS(run_op("Reshape", {iota_f32({2, 3}), make_i64({2}, {4, -1})}, 1), "element counts differ");
  EXPECT_ERROR_CONTAINS(run_op("Reshape", {iota_f32({2, 3}), make_i64({2}, {-2, 3})}, 1), "invalid dim");
  EXPECT_ERROR_CONTAINS(run_op("Reshape", {iota_f32({6}), make_i64({2}, {0, -1})}, 1,
                               [](onnx::NodeProto& n) { attr(n, "allowzero", int64_t{1}); }, 14),
                        "both 0 and -1");
}

TEST(ShapeOps, ReshapeAttributeFormOpset1) {
  auto y = run_op("Reshape", {iota_f32({2, 3})}, 1,
                  [](onnx::NodeProto& n) { attr(n, "shape", std::vector<int64_t>{3, -1}); }, 1);
  EXPECT_EQ(y[0].shape(), (std::vector<int64_t>{3, 2}));
}

TEST(ShapeOps, ReshapeOfInitializerDoesNotAliasConstant) {
  // The output leaves the graph: writing into it must not change the model's constant.
  ModelBuilder b(13);
  b.initializer("c", make_f32({2, 2}, {1, 2, 3, 4}));
  b.initializer("s", make_i64({1}, {4}));
  b.input("unused", DType::Float32, {1});
  b.node("Reshape", {"c", "s"}, {"y"});
  b.node("Identity", {"unused"}, {"z"});
  b.output("y");
  b.output("z");
  Session s = b.session();
  auto out = s.run({make_f32({1}, {0})});
  out[0].data_as<float>()[0] = 99.f;
  auto again = s.run({make_f32({1}, {0})});
  EXPECT_EQ(again[0].data_as<float>()[0], 1.f);
}

TEST(ShapeOps, FlattenAxes) {
  auto x = iota_f32({2, 3, 4});
  EXPECT_EQ(run_op("Flatten", {x}, 1, [](onnx::NodeProto& n) { attr(n, "axis", int64_t{0}); })[0].shape(),
            (std::vector<int64_t>{1, 24}));
  EXPECT_EQ(run_op("Flatten", {x}, 1, [](onnx::NodeProto& n) { attr(n, "axis", int64_t{3}); })[0].shape(),
            (std::vector<int64_t>{24, 1}));
  EXPECT_EQ(run_op("Flatten", {x}, 1, [](onnx::NodeProto& n) { attr(n, "axis", int64_t{-1}); })[0].shape(),
            (std::vector<int64_t>{6, 4}));
  EXPECT_ERROR_CONTAINS(run_op("Flatten", {x}, 1, [](onnx::NodeProto& n) { attr(n, "axis", int64_t{4}); }),
                        "out of range");
}

TEST(ShapeOps, TransposeDefaultReversesAndPerm) {
  auto x = iota_f32({2, 3, 4});
  auto y = run_op("Transpose", {x}, 1)[0];
  EXPECT_EQ(y.shape(), (std::vector<int64_t>{4, 3, 2}));
  // y[k, j, i] = x[i, j, k] = 12i + 4j + k
  EXPECT_EQ(values_f32(y)[1 * 6 + 2 * 2 + 1], 12 * 1 + 4 * 2 + 1);
  auto z = run_op("Transpose", {x}, 1, [](onnx::NodeProto& n) { attr(n, "perm", std::vector<int64_t>{1, 0, 2}); })[0];
  EXPECT_EQ(z.shape(), (std::vector<int64_t>{3, 2, 4}));
  EXPECT_EQ(values_f32(z)[1 * 8 + 1 * 4 + 3], 12 * 1 + 4 * 1 + 3);
}

TEST(ShapeOps, TransposeBadPerm) {
  auto x = iota_f32({2, 3});
  EXPECT_ERROR_CONTAINS(
      run_op("Transpose", {x}, 1, [](onnx::NodeProto& n) { attr(n, "perm", std::vector<int64_t>{0, 0}); }),
      "not a permutation");
  EXPECT_ERROR_CONTAINS(
      run_op("Transpose", {x}, 1, [](onnx::NodeProto& n) { attr(n, "perm", std::vector<int64_t>{0, 1, 2}); }),
      "rank");
}

TEST(ShapeOps, TransposeBoolAndInt8) {
  Tensor b(DType::Bool, {2, 2});
  b.data_as<uint8_t>()[1] = 1;  // [[0,1],[0,0]]
  auto y = run_op("Transpose", {b}, 1)[0];
  EXPECT_EQ(y.dtype(), DType::Bool);
  EXPECT_EQ(y.data_as<uint8_t>()[2], 1);
}

TEST(ShapeOps, ConcatNegativeAxisAndEmptyInput) {
  auto y = run_op("Concat", {iota_f32({2, 1}), Tensor(DType::Float32, {2, 0}), iota_f32({2, 2})}, 1,
                  [](onnx::NodeProto& n) { attr(n, "axis", int64_t{-1}); })[0];
  EXPECT_EQ(y.shape(), (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(values_f32(y), (std::vector<float>{0, 0, 1, 1, 2, 3}));
  EXPECT_ERROR_CONTAINS(run_op("Concat", {iota_f32({2, 1}), iota_f32({3, 1})}, 1,
                               [](onnx::NodeProto& n) { attr(n, "axis", int64_t{1}); }),
                        "not the concat axis");
}

TEST(ShapeOps, SplitForms) {
  auto x = iota_f32({7});
  // Opset 18 num_outputs: ceil(7/3) = 3 → 3, 3, 1.
  auto y = run_op("Split", {x}, 3, [](onnx::NodeProto& n) { attr(n, "num_outputs", int64_t{3}); }, 18);
  EXPECT_EQ(y[2].shape(), (std::vector<int64_t>{1}));
  EXPECT_EQ(values_f32(y[2]), (std::vector<float>{6}));
  // Opset 13 split input.
  y = run_op("Split", {x, make_i64({2}, {2, 5})}, 2, {}, 13);
  EXPECT_EQ(values_f32(y[0]), (std::vector<float>{0, 1}));
  // Opset 11 attribute; uneven equal split is an error before 18.
  y = run_op("Split", {x}, 2, [](onnx::NodeProto& n) { attr(n, "split", std::vector<int64_t>{3, 4}); }, 11);
  EXPECT_EQ(y[1].shape(), (std::vector<int64_t>{4}));
  EXPECT_ERROR_CONTAINS(run_op("Split", {x}, 2, {}, 11), "equal parts");
  EXPECT_ERROR_CONTAINS(run_op("Split", {x, make_i64({2}, {2, 2})}, 2, {}, 13), "sums to 4");
}

TEST(ShapeOps, SliceNegativeStepsAndClamping) {
  auto x = iota_f32({10});
  auto y = run_op("Slice", {x, make_i64({1}, {-1}), make_i64({1}, {INT64_MIN}), make_i64({1}, {0}),
                            make_i64({1}, {-3})},
                  1)[0];
  EXPECT_EQ(values_f32(y), (std::vector<float>{9, 6, 3, 0}));
  y = run_op("Slice", {x, make_i64({1}, {2}), make_i64({1}, {1000})}, 1)[0];
  EXPECT_EQ(y.numel(), 8);
  y = run_op("Slice", {x, make_i64({1}, {20}), make_i64({1}, {30})}, 1)[0];
  EXPECT_EQ(y.numel(), 0);
  EXPECT_ERROR_CONTAINS(run_op("Slice", {x, make_i64({1}, {0}), make_i64({1}, {3}), make_i64({1}, {0}),
                                         make_i64({1}, {0})},
                               1),
                        "steps must not be 0");
}

TEST(ShapeOps, SliceOpset1Attributes) {
  auto y = run_op("Slice", {iota_f32({3, 4})}, 1,
                  [](onnx::NodeProto& n) {
                    attr(n, "starts", std::vector<int64_t>{1});
                    attr(n, "ends", std::vector<int64_t>{-1});
                    attr(n, "axes", std::vector<int64_t>{1});
                  },
                  1)[0];
  EXPECT_EQ(y.shape(), (std::vector<int64_t>{3, 2}));
  EXPECT_EQ(values_f32(y), (std::vector<float>{1, 2, 5, 6, 9, 10}));
}

TEST(ShapeOps, GatherAxisNegativeIndicesInt32) {
  auto x = iota_f32({2, 3});
  Tensor idx(DType::Int32, {2});
  idx.data_as<int32_t>()[0] = -1;
  idx.data_as<int32_t>()[1] = 0;
  auto y = run_op("Gather", {x, idx}, 1, [](onnx::NodeProto& n) { attr(n, "axis", int64_t{1}); })[0];
  EXPECT_EQ(y.shape(), (std::vector<int64_t>{2, 2}));
  EXPECT_EQ(values_f32(y), (std::vector<float>{2, 0, 5, 3}));
  // Scalar index drops the axis.
  auto z = run_op("Gather", {x, make_i64({}, {1})}, 1)[0];
  EXPECT_EQ(z.shape(), (std::vector<int64_t>{3}));
}

TEST(ShapeOps, GatherIndexOutOfRange) {
  EXPECT_ERROR_CONTAINS(run_op("Gather", {iota_f32({2, 3}), make_i64({1}, {2})}, 1), "index 2 is out of range");
  EXPECT_ERROR_CONTAINS(run_op("Gather", {iota_f32({2, 3}), make_i64({1}, {-3})}, 1), "out of range");
}

TEST(ShapeOps, ShapeStartEnd) {
  auto x = iota_f32({2, 3, 4});
  EXPECT_EQ(values_i64(run_op("Shape", {x}, 1)[0]), (std::vector<int64_t>{2, 3, 4}));
  auto y = run_op("Shape", {x}, 1, [](onnx::NodeProto& n) {
    attr(n, "start", int64_t{-2});
    attr(n, "end", int64_t{100});
  }, 15)[0];
  EXPECT_EQ(values_i64(y), (std::vector<int64_t>{3, 4}));
  y = run_op("Shape", {x}, 1, [](onnx::NodeProto& n) { attr(n, "start", int64_t{2}); attr(n, "end", int64_t{1}); }, 15)[0];
  EXPECT_EQ(y.numel(), 0);
}

TEST(ShapeOps, ConstantOfShapeDefaultAndValue) {
  auto y = run_op("ConstantOfShape", {make_i64({2}, {2, 3})}, 1)[0];
  EXPECT_EQ(y.dtype(), DType::Float32);
  EXPECT_EQ(values_f32(y), std::vector<float>(6, 0.f));
  auto z = run_op("ConstantOfShape", {make_i64({1}, {3})}, 1,
                  [](onnx::NodeProto& n) { attr(n, "value", make_i64({1}, {7})); })[0];
  EXPECT_EQ(values_i64(z), (std::vector<int64_t>{7, 7, 7}));
}

TEST(ShapeOps, SqueezeUnsqueeze) {
  auto x = iota_f32({1, 3, 1});
  EXPECT_EQ(run_op("Squeeze", {x}, 1)[0].shape(), (std::vector<int64_t>{3}));
  EXPECT_EQ(run_op("Squeeze", {x, make_i64({1}, {-1})}, 1)[0].shape(), (std::vector<int64_t>{1, 3}));
  EXPECT_ERROR_CONTAINS(run_op("Squeeze", {x, make_i64({1}, {1})}, 1), "cannot squeeze axis 1");
  EXPECT_EQ(run_op("Unsqueeze", {iota_f32({3}), make_i64({2}, {2, 0})}, 1)[0].shape(),
            (std::vector<int64_t>{1, 3, 1}));
  EXPECT_EQ(run_op("Unsqueeze", {iota_f32({3})}, 1,
                   [](onnx::NodeProto& n) { attr(n, "axes", std::vector<int64_t>{-1}); }, 11)[0].shape(),
            (std::vector<int64_t>{3, 1}));
  EXPECT_ERROR_CONTAINS(run_op("Unsqueeze", {iota_f32({3}), make_i64({2}, {0, 0})}, 1), "twice");
}

TEST(ShapeOps, ExpandBidirectionalAndTile) {
  auto y = run_op("Expand", {iota_f32({3, 1}), make_i64({3}, {2, 1, 4})}, 1)[0];
  EXPECT_EQ(y.shape(), (std::vector<int64_t>{2, 3, 4}));
  EXPECT_EQ(values_f32(y)[12 + 4 * 2 + 3], 2.f);
  EXPECT_ERROR_CONTAINS(run_op("Expand", {iota_f32({3}), make_i64({1}, {2})}, 1), "cannot broadcast");
  auto t = run_op("Tile", {iota_f32({2, 2}), make_i64({2}, {2, 1})}, 1)[0];
  EXPECT_EQ(values_f32(t), (std::vector<float>{0, 1, 2, 3, 0, 1, 2, 3}));
}

TEST(ShapeOps, PadModes) {
  auto x = make_f32({3}, {1, 2, 3});
  auto pad = [&](const char* mode, std::vector<int64_t> p, int opset = 19) {
    return values_f32(run_op("Pad", {x, make_i64({2}, p)}, 1,
                             [&](onnx::NodeProto& n) { attr(n, "mode", std::string(mode)); }, opset)[0]);
  };
  EXPECT_EQ(pad("constant", {2, 1}), (std::vector<float>{0, 0, 1, 2, 3, 0}));
  EXPECT_EQ(pad("reflect", {2, 2}), (std::vector<float>{3, 2, 1, 2, 3, 2, 1}));
  EXPECT_EQ(pad("edge", {1, 2}), (std::vector<float>{1, 1, 2, 3, 3, 3}));
  EXPECT_EQ(pad("wrap", {2, 1}), (std::vector<float>{2, 3, 1, 2, 3, 1}));
  // Negative pads crop.
  EXPECT_EQ(pad("constant", {-1, 1}), (std::vector<float>{2, 3, 0}));
  auto v = run_op("Pad", {x, make_i64({2}, {1, 0}), make_f32({}, {9})}, 1)[0];
  EXPECT_EQ(values_f32(v), (std::vector<float>{9, 1, 2, 3}));
  auto w = run_op("Pad", {x}, 1, [](onnx::NodeProto& n) {
    attr(n, "pads", std::vector<int64_t>{0, 1});
    attr(n, "value", 5.f);
  }, 2)[0];
  EXPECT_EQ(values_f32(w), (std::vector<float>{1, 2, 3, 5}));
}

TEST(ShapeOps, PadErrors) {
  auto x = make_f32({3}, {1, 2, 3});
  EXPECT_ERROR_CONTAINS(run_op("Pad", {x, make_i64({2}, {-2, -2})}, 1), "remove more than");
  EXPECT_ERROR_CONTAINS(run_op("Pad", {x, make_i64({4}, {0, 0, 0, 0})}, 1), "pads has 4 entries");
  EXPECT_ERROR_CONTAINS(
      run_op("Pad", {x, make_i64({2}, {1, 1})}, 1, [](onnx::NodeProto& n) { attr(n, "mode", std::string("wrap")); }, 18),
      "not supported");
}

TEST(ShapeOps, DropoutInferenceAndTrainingRefusal) {
  auto x = make_f32({2}, {1, 2});
  auto y = run_op("Dropout", {x}, 2);
  EXPECT_EQ(values_f32(y[0]), (std::vector<float>{1, 2}));
  EXPECT_EQ(y[1].dtype(), DType::Bool);
  EXPECT_EQ(y[1].data_as<uint8_t>()[1], 1);
  Tensor on(DType::Bool, {});
  on.data_as<uint8_t>()[0] = 1;
  EXPECT_ERROR_CONTAINS(run_op("Dropout", {x, make_f32({}, {0.5f}), on}, 1), "training_mode is true");
  auto z = run_op("Dropout", {x, make_f32({}, {0.f}), on}, 1);  // ratio 0: identity even in training
  EXPECT_EQ(values_f32(z[0]), (std::vector<float>{1, 2}));
}

// A dynamic-batch flatten as exporters write it: Shape → Gather → Unsqueeze →
// Concat → Reshape. The batch dim stays unknown, the rank is inferred.
TEST(ShapeOps, DynamicBatchShapeChainInference) {
  ModelBuilder b(13);
  b.input("x", DType::Float32, {-1, 3, 4, 4});
  b.initializer("zero", make_i64({}, {0}));
  b.initializer("ax0", make_i64({1}, {0}));
  b.initializer("minus1", make_i64({1}, {-1}));
  b.initializer("shape2", make_i64({2}, {0, -1}));
  b.node("Shape", {"x"}, {"s"});
  b.node("Gather", {"s", "zero"}, {"n"});
  b.node("Unsqueeze", {"n", "ax0"}, {"n1"});
  b.node("Concat", {"n1", "minus1"}, {"target"}).add_attribute()->CopyFrom([] {
    onnx::AttributeProto a;
    a.set_name("axis");
    a.set_type(onnx::AttributeProto::INT);
    a.set_i(0);
    return a;
  }());
  b.node("Reshape", {"x", "target"}, {"y"});
  b.node("Reshape", {"x", "shape2"}, {"y2"});
  b.node("Flatten", {"x"}, {"y3"});
  b.output("y");
  b.output("y2");
  b.output("y3");
  Session s = b.session();
  EXPECT_EQ(s.outputs()[0].shape, (std::vector<int64_t>{-1, -1}));
  EXPECT_EQ(s.outputs()[1].shape, (std::vector<int64_t>{-1, 48}));
  EXPECT_EQ(s.outputs()[2].shape, (std::vector<int64_t>{-1, 48}));
  auto out = s.run({iota_f32({2, 3, 4, 4})});
  EXPECT_EQ(out[0].shape(), (std::vector<int64_t>{2, 48}));
  EXPECT_EQ(out[1].shape(), (std::vector<int64_t>{2, 48}));
  EXPECT_EQ(out[2].shape(), (std::vector<int64_t>{2, 48}));
  EXPECT_EQ(values_f32(out[0])[60], 60.f);
}

TEST(ShapeOps, ReshapeConstantTargetMismatchFailsAtLoad) {
  ModelBuilder b(13);
  b.input("x", DType::Float32, {2, 3});
  b.initializer("t", make_i64({1}, {5}));
  b.node("Reshape", {"x", "t"}, {"y"});
  b.output("y");
  EXPECT_ERROR_CONTAINS(b.session(), "element counts differ");
}

}  // namespace
}  // namespace kiln::test
