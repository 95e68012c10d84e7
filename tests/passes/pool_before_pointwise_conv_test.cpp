#include <gtest/gtest.h>

#include "passes/pass_test_util.h"

namespace kiln::test {
namespace {

constexpr double kTol = 1e-5;

struct PoolSpec {
  std::string op = "AveragePool";
  std::vector<int64_t> kernel{2, 2}, strides{2, 2}, pads;
  int64_t count_include_pad = -1;  // -1: absent
  int64_t ceil_mode = -1;
};

struct ConvSpec {
  int64_t k = 1;
  std::vector<int64_t> pads, strides;
  int64_t group = 1;
};

// DenseNet's transition: x → BN → Relu → Conv(8 → 4) → pool → y.
ModelBuilder transition(const PoolSpec& p = {}, const ConvSpec& c = {}, bool second_reader = false) {
  ModelBuilder b(19);
  b.input("x", DType::Float32, {2, 8, 7, 6});
  add_batchnorm(b, "x", "n", 8, 3);
  b.node("Relu", {"n"}, {"r"}, "relu");
  b.initializer("w", random_f32({4, 8 / c.group, c.k, c.k}, 7));
  b.initializer("b", random_f32({4}, 8));
  auto& conv = b.node("Conv", {"r", "w", "b"}, {"c"}, "conv");
  if (!c.pads.empty()) attr(conv, "pads", c.pads);
  if (!c.strides.empty()) attr(conv, "strides", c.strides);
  attr(conv, "group", c.group);
  auto& pool = b.node(p.op, {"c"}, {"y"}, "pool");
  if (p.op == "AveragePool") {
    attr(pool, "kernel_shape", p.kernel);
    attr(pool, "strides", p.strides);
    if (!p.pads.empty()) attr(pool, "pads", p.pads);
    if (p.count_include_pad >= 0) attr(pool, "count_include_pad", p.count_include_pad);
    if (p.ceil_mode >= 0) attr(pool, "ceil_mode", p.ceil_mode);
  }
  b.output("y");
  if (second_reader) {
    b.node("Neg", {"c"}, {"z"}, "neg");
    b.output("z");
  }
  return b;
}

const ir::Node* node_named(const FusionResult& r, const std::string& name) {
  for (const auto& n : r.graph->nodes())
    if (n->name == name) return n.get();
  return nullptr;
}

// The pool reads `from` and the convolution writes the graph output y.
void expect_moved(const FusionResult& r, const std::string& from = "r") {
  const ir::Node* pool = node_named(r, "pool");
  const ir::Node* conv = node_named(r, "conv");
  ASSERT_TRUE(pool && conv);
  EXPECT_EQ(pool->inputs[0]->name, from);
  EXPECT_EQ(conv->inputs[0], pool->outputs[0]);
  EXPECT_EQ(conv->outputs[0]->name, "y");
  EXPECT_EQ(r.action("pool"), "moved before Conv 'conv'");
}

void expect_kept(const FusionResult& r, const std::string& why) {
  const ir::Node* pool = node_named(r, "pool");
  ASSERT_TRUE(pool);
  EXPECT_EQ(pool->inputs[0]->name, "c");
  EXPECT_NE(r.reason("pool").find(why), std::string::npos) << r.reason("pool");
  // The pool stayed; the BN + Relu in front of the Conv still folds into its
  // input (fold_batchnorm_into_conv_input), which may round differently.
  EXPECT_LT(r.max_abs_diff, kTol);
}

TEST(PoolBeforePointwiseConv, DenseNetTransition) {
  auto r = check_fusion(transition());
  expect_moved(r);
  EXPECT_LT(r.max_abs_diff, kTol);
  // The convolution now runs on the 3×3 pooled map of the 8 input channels.
  const ir::Node* conv = node_named(r, "conv");
  EXPECT_EQ(conv->inputs[0]->shape.dims, (std::vector<int64_t>{2, 8, 3, 3}));
}

TEST(PoolBeforePointwiseConv, GroupedConvAndOddWindows) {
  PoolSpec p;
  p.kernel = {3, 2};
  p.strides = {2, 1};
  ConvSpec c;
  c.group = 2;
  auto r = check_fusion(transition(p, c));
  expect_moved(r);
  EXPECT_LT(r.max_abs_diff, kTol);
}

TEST(PoolBeforePointwiseConv, GlobalAveragePool) {
  PoolSpec p;
  p.op = "GlobalAveragePool";
  auto r = check_fusion(transition(p));
  expect_moved(r);
  EXPECT_LT(r.max_abs_diff, kTol);
}

// A 3×3 pool padded by 1 that counts the padding in or not.
PoolSpec padded_pool(int64_t count_include_pad) {
  PoolSpec p;
  p.kernel = {3, 3};
  p.pads = {1, 1, 1, 1};
  p.count_include_pad = count_include_pad;
  return p;
}

TEST(PoolBeforePointwiseConv, PaddingThatIsNotCountedMoves) {
  auto r = check_fusion(transition(padded_pool(0)));
  expect_moved(r);
  EXPECT_LT(r.max_abs_diff, kTol);
}

TEST(PoolBeforePointwiseConv, PaddingCountedInIsRefused) {
  expect_kept(check_fusion(transition(padded_pool(1))), "padding zeros");
}

TEST(PoolBeforePointwiseConv, RefusedCases) {
  {
    PoolSpec p;
    p.ceil_mode = 1;
    expect_kept(check_fusion(transition(p)), "ceil_mode");
  }
  {
    PoolSpec p;
    p.kernel = {3, 3};
    p.strides = {1, 1};
    expect_kept(check_fusion(transition(p)), "do not shrink");
  }
  {
    ConvSpec c;
    c.k = 3;
    expect_kept(check_fusion(transition({}, c)), "not 1×1");
  }
  {
    ConvSpec c;
    c.pads = {1, 1, 1, 1};
    expect_kept(check_fusion(transition({}, c)), "padded");
  }
  {
    ConvSpec c;
    c.strides = {2, 2};
    expect_kept(check_fusion(transition({}, c)), "strided");
  }
  expect_kept(check_fusion(transition({}, {}, /*second_reader=*/true)), "other readers");
}

TEST(PoolBeforePointwiseConv, NotPastAnActivation) {
  // Conv → Relu → pool: relu(avg) is not avg(relu); the Relu fuses into the
  // Conv instead and the pool stays after it.
  ModelBuilder b(19);
  b.input("x", DType::Float32, {1, 4, 6, 6});
  b.initializer("w", random_f32({4, 4, 1, 1}, 7));
  b.node("Conv", {"x", "w"}, {"c"}, "conv");
  b.node("Relu", {"c"}, {"r"}, "relu");
  auto& pool = b.node("AveragePool", {"r"}, {"y"}, "pool");
  attr(pool, "kernel_shape", std::vector<int64_t>{2, 2});
  attr(pool, "strides", std::vector<int64_t>{2, 2});
  b.output("y");
  auto r = check_fusion(b);
  const ir::Node* p = node_named(r, "pool");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->inputs[0]->producer->name, "conv");
  EXPECT_EQ(r.action("pool"), "");
  EXPECT_EQ(r.max_abs_diff, 0.0);
}

TEST(PoolBeforePointwiseConv, MovesPastTwoPointwiseConvs) {
  // x → Conv a → Conv conv → pool: the pool ends up reading x, and its
  // decision stays "moved" (the refusal at the graph input is not recorded).
  ModelBuilder b(19);
  b.input("x", DType::Float32, {1, 6, 8, 8});
  b.initializer("wa", random_f32({5, 6, 1, 1}, 7));
  b.initializer("w", random_f32({4, 5, 1, 1}, 8));
  b.node("Conv", {"x", "wa"}, {"a"}, "a");
  b.node("Conv", {"a", "w"}, {"c"}, "conv");
  auto& pool = b.node("AveragePool", {"c"}, {"y"}, "pool");
  attr(pool, "kernel_shape", std::vector<int64_t>{2, 2});
  attr(pool, "strides", std::vector<int64_t>{2, 2});
  b.output("y");
  auto r = check_fusion(b);
  const ir::Node* p = node_named(r, "pool");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->inputs[0]->name, "x");
  EXPECT_EQ(r.action("pool"), "moved before Conv 'a'");
  EXPECT_LT(r.max_abs_diff, kTol);
}

}  // namespace
}  // namespace kiln::test
