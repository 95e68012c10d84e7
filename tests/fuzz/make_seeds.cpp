// Writes small hand-made models into a folder, as seeds for the loader fuzzer:
// the ops whose output size comes from data (ConstantOfShape, Expand, Tile,
// Pad, Resize, Reshape; Range, which kiln refuses), attribute tensors, Constants
// and a small CNN.
#include <cstdio>
#include <string>

#include "support/model_builder.h"
#include "support/test_util.h"

using namespace kiln;
using namespace kiln::test;

namespace {

void write(const std::string& dir, const std::string& name, const ModelBuilder& b) {
  b.save(dir + "/" + name + ".onnx");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s OUTPUT_DIR\n", argv[0]);
    return 2;
  }
  const std::string dir = argv[1];
  try {
    {
      ModelBuilder b;
      b.initializer("shape", make_i64({2}, {2, 3}));
      attr(b.node("ConstantOfShape", {"shape"}, {"y"}), "value", make_f32({1}, {1.5f}));
      b.output("y");
      write(dir, "constant_of_shape", b);
    }
    {
      ModelBuilder b;
      b.input("s", DType::Int64, {2});
      b.node("ConstantOfShape", {"s"}, {"y"});
      b.output("y");
      write(dir, "constant_of_shape_runtime", b);
    }
    {
      ModelBuilder b;
      b.input("x", DType::Float32, {1, 3});
      b.initializer("shape", make_i64({2}, {4, 3}));
      b.node("Expand", {"x", "shape"}, {"y"});
      b.output("y");
      write(dir, "expand", b);
    }
    {
      ModelBuilder b;
      b.input("x", DType::Float32, {2, 2});
      b.initializer("reps", make_i64({2}, {3, 2}));
      b.node("Tile", {"x", "reps"}, {"y"});
      b.output("y");
      write(dir, "tile", b);
    }
    {
      ModelBuilder b;
      b.input("x", DType::Float32, {1, 1, 2, 2});
      b.initializer("pads", make_i64({8}, {0, 0, 1, 1, 0, 0, 1, 1}));
      attr(b.node("Pad", {"x", "pads"}, {"y"}), "mode", std::string("reflect"));
      b.output("y");
      write(dir, "pad", b);
    }
    {
      ModelBuilder b;
      b.input("x", DType::Float32, {1, 1, 2, 2});
      b.initializer("scales", make_f32({4}, {1, 1, 2, 3}));
      attr(b.node("Resize", {"x", "", "scales"}, {"y"}), "mode", std::string("linear"));
      b.output("y");
      write(dir, "resize", b);
    }
    {
      ModelBuilder b;
      b.input("x", DType::Float32, {2, 6});
      b.initializer("shape", make_i64({3}, {3, -1, 2}));
      b.node("Reshape", {"x", "shape"}, {"y"});
      b.output("y");
      write(dir, "reshape", b);
    }
    {
      ModelBuilder b;
      b.initializer("start", make_f32({}, {0}));
      b.initializer("limit", make_f32({}, {10}));
      b.initializer("delta", make_f32({}, {0.5f}));
      b.node("Range", {"start", "limit", "delta"}, {"y"});
      b.output("y");
      write(dir, "range", b);
    }
    {
      ModelBuilder b;
      attr(b.node("Constant", {}, {"c"}), "value", make_f32({2, 2}, {1, 2, 3, 4}));
      attr(b.node("Constant", {}, {"k"}), "value_ints", std::vector<int64_t>{1, 4});
      b.node("Reshape", {"c", "k"}, {"y"});
      b.output("y");
      write(dir, "constants", b);
    }
    {
      // Conv → Relu → Conv + residual → MaxPool → GlobalAveragePool → Flatten → Gemm → Softmax
      ModelBuilder b;
      b.input("x", DType::Float32, {1, 2, 6, 6});
      b.initializer("w1", random_f32({4, 2, 3, 3}, 1));
      b.initializer("b1", random_f32({4}, 2));
      b.initializer("w2", random_f32({4, 4, 3, 3}, 3));
      b.initializer("wf", random_f32({3, 4}, 4));
      b.initializer("bf", random_f32({3}, 5));
      attr(b.node("Conv", {"x", "w1", "b1"}, {"c1"}), "pads", std::vector<int64_t>{1, 1, 1, 1});
      b.node("Relu", {"c1"}, {"r1"});
      attr(b.node("Conv", {"r1", "w2"}, {"c2"}), "pads", std::vector<int64_t>{1, 1, 1, 1});
      b.node("Add", {"c2", "r1"}, {"a"});
      auto& mp = b.node("MaxPool", {"a"}, {"p"});
      attr(mp, "kernel_shape", std::vector<int64_t>{2, 2});
      attr(mp, "strides", std::vector<int64_t>{2, 2});
      b.node("GlobalAveragePool", {"p"}, {"g"});
      b.node("Flatten", {"g"}, {"f"});
      attr(b.node("Gemm", {"f", "wf", "bf"}, {"z"}), "transB", int64_t{1});
      b.node("Softmax", {"z"}, {"y"});
      b.output("y");
      write(dir, "small_cnn", b);
    }
  } catch (const Error& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
  return 0;
}
