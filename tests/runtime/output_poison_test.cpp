// Outputs are not zero-filled: allocate_output hands out memory as it is,
// poison mode (KILN_POISON_OUTPUTS / set_poison_outputs) fills it with NaN so
// that an op leaving elements unwritten shows, allocate_output_zeroed zeroes,
// and an in-place slot (which holds the op's input) is never filled.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>

#include "ir/graph.h"
#include "ops/op.h"
#include "support/model_builder.h"
#include "support/test_util.h"

namespace kiln::test {
namespace {

// Restores poison mode as the environment set it.
struct PoisonScope {
  explicit PoisonScope(bool on) {
    const char* v = std::getenv("KILN_POISON_OUTPUTS");
    was = v && *v && std::string(v) != "0";
    ops::set_poison_outputs(on);
  }
  ~PoisonScope() { ops::set_poison_outputs(was); }
  bool was = false;
};

TEST(OutputPoison, PlannedAndHeapOutputs) {
  ir::Node node;
  node.op_type = "Test";
  std::vector<float> slot(64, 7.f), in_place(64, 7.f);
  ops::PlannedOutput planned[3];
  planned[0] = {slot.data(), slot.size() * sizeof(float), true, false};
  planned[1] = {in_place.data(), in_place.size() * sizeof(float), false, false};  // in place over an input
  std::vector<Tensor> outs(3);
  ops::ComputeContext ctx(node, {}, outs, 1);
  PoisonScope poison(true);
  ops::PlannedOutputScope scope(node, planned, 3);
  const Tensor& a = ctx.allocate_output(0, DType::Float32, {8, 8});
  EXPECT_EQ(a.data(), slot.data());
  for (int64_t i = 0; i < a.numel(); ++i) ASSERT_TRUE(std::isnan(a.data_as<float>()[i])) << i;
  const Tensor& b = ctx.allocate_output(1, DType::Float32, {64});
  EXPECT_EQ(b.data(), in_place.data());
  for (int64_t i = 0; i < b.numel(); ++i) ASSERT_EQ(b.data_as<float>()[i], 7.f) << "the input must survive";
  const Tensor& c = ctx.allocate_output(2, DType::Float32, {5});  // not planned: heap
  for (int64_t i = 0; i < c.numel(); ++i) ASSERT_TRUE(std::isnan(c.data_as<float>()[i]));

  // Zeroed allocations: the planned slot again (a new run), and a heap one.
  for (auto& p : planned) p.taken = false;
  const Tensor& z = ctx.allocate_output_zeroed(0, DType::Float32, {8, 8});
  EXPECT_EQ(z.data(), slot.data());
  for (int64_t i = 0; i < z.numel(); ++i) ASSERT_EQ(z.data_as<float>()[i], 0.f);
  const Tensor& zi = ctx.allocate_output_zeroed(1, DType::Float32, {64});
  EXPECT_NE(zi.data(), in_place.data()) << "a zeroed output never takes an in-place slot";
  for (int64_t i = 0; i < zi.numel(); ++i) ASSERT_EQ(zi.data_as<float>()[i], 0.f);
}

TEST(OutputPoison, WithoutPoisonPlannedMemoryIsLeftAsIs) {
  ir::Node node;
  node.op_type = "Test";
  std::vector<float> slot(16, 7.f);
  ops::PlannedOutput planned[1] = {{slot.data(), slot.size() * sizeof(float), true, false}};
  std::vector<Tensor> outs(1);
  ops::ComputeContext ctx(node, {}, outs, 1);
  PoisonScope poison(false);
  ops::PlannedOutputScope scope(node, planned, 1);
  const Tensor& a = ctx.allocate_output(0, DType::Float32, {16});
  for (int64_t i = 0; i < a.numel(); ++i) ASSERT_EQ(a.data_as<float>()[i], 7.f);
}

// A chain of the ops this work touched, with planned intermediates: the same
// result with and without poison (every op writes every element).
TEST(OutputPoison, OpsWriteEveryElement) {
  ModelBuilder m(17);
  m.input("x", DType::Float32, {1, 8, 12, 12});
  m.initializer("s", random_f32({8}, 1, 0.5f, 2.f)).initializer("b", random_f32({8}, 2));
  m.initializer("mean", random_f32({8}, 3)).initializer("var", random_f32({8}, 4, 0.5f, 2.f));
  m.initializer("pads", make_i64({8}, {0, 0, 1, 0, 0, 0, 0, 1}));
  m.initializer("w", random_f32({10, 16}, 5)).initializer("c", random_f32({10}, 6));
  m.node("BatchNormalization", {"x", "s", "b", "mean", "var"}, {"t"});
  m.node("Relu", {"t"}, {"r"});
  attr(m.node("Concat", {"r", "x"}, {"cat"}), "axis", int64_t{1});
  m.node("Pad", {"cat", "pads"}, {"p"});
  auto& mp = m.node("MaxPool", {"p"}, {"mp"});
  attr(mp, "kernel_shape", std::vector<int64_t>{3, 3});
  attr(mp, "strides", std::vector<int64_t>{2, 2});
  attr(mp, "pads", std::vector<int64_t>{1, 1, 1, 1});
  auto& ap = m.node("AveragePool", {"mp"}, {"ap"});
  attr(ap, "kernel_shape", std::vector<int64_t>{2, 2});
  attr(ap, "strides", std::vector<int64_t>{2, 2});
  attr(ap, "ceil_mode", int64_t{1});
  m.node("GlobalAveragePool", {"ap"}, {"g"});
  m.node("Flatten", {"g"}, {"f"});
  auto& gemm = m.node("Gemm", {"f", "w", "c"}, {"y"});
  attr(gemm, "transB", int64_t{1});
  m.output("y");
  const std::vector<Tensor> feed{random_f32({1, 8, 12, 12}, 7)};
  Tensor plain, poisoned;
  {
    PoisonScope poison(false);
    plain = m.session().run(feed)[0];
  }
  {
    PoisonScope poison(true);
    poisoned = m.session().run(feed)[0];
  }
  EXPECT_EQ(compare_tensors(poisoned, plain, 0, 0), "");
}

}  // namespace
}  // namespace kiln::test
