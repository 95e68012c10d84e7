// Running a batch one image at a time (SessionOptions::split_batch): which
// graphs qualify, and that the split run gives each image exactly what a run
// of that image alone gives, for every thread count.
#include <gtest/gtest.h>

#include <cstring>
#include <functional>

#include "passes/pass_test_util.h"

namespace kiln::test {
namespace {

// A small CNN whose per-image activations pass the size threshold:
// Conv(+BN, residual Add, Relu) → MaxPool → Conv → GlobalAveragePool →
// Flatten → Gemm → Softmax. `tweak` may add or change nodes after the Conv.
ModelBuilder cnn(const std::function<void(ModelBuilder&)>& tweak = {}, std::vector<int64_t> x_shape = {-1, 3, 64, 64}) {
  ModelBuilder b(15);
  b.input("x", DType::Float32, x_shape);
  b.initializer("w1", random_f32({64, 3, 3, 3}, 1));
  b.initializer("b1", random_f32({64}, 2));
  auto& c1 = b.node("Conv", {"x", "w1", "b1"}, {"c1"}, "conv1");
  attr(c1, "pads", std::vector<int64_t>{1, 1, 1, 1});
  add_batchnorm(b, "c1", "n1", 64, 3);
  b.node("Relu", {"n1"}, {"r1"}, "relu1");
  b.initializer("w2", random_f32({64, 64, 3, 3}, 4));
  auto& c2 = b.node("Conv", {"r1", "w2"}, {"c2"}, "conv2");
  attr(c2, "pads", std::vector<int64_t>{1, 1, 1, 1});
  b.node("Add", {"c2", "r1"}, {"s2"}, "add2");
  b.node("Relu", {"s2"}, {"feat"}, "relu2");
  if (tweak) tweak(b);
  auto& pool = b.node("MaxPool", {"feat"}, {"p"}, "pool");
  attr(pool, "kernel_shape", std::vector<int64_t>{2, 2});
  attr(pool, "strides", std::vector<int64_t>{2, 2});
  b.node("GlobalAveragePool", {"p"}, {"g"}, "gap");
  b.node("Flatten", {"g"}, {"f"}, "flatten");
  b.initializer("wf", random_f32({10, 64}, 5));
  b.initializer("bf", random_f32({10}, 6));
  auto& fc = b.node("Gemm", {"f", "wf", "bf"}, {"logits"}, "fc");
  attr(fc, "transB", int64_t{1});
  b.node("Softmax", {"logits"}, {"y"}, "softmax");
  b.output("y");
  return b;
}

Session load(const ModelBuilder& b, int threads, bool split = true) {
  SessionOptions o;
  o.threads = threads;
  o.split_batch = split;
  return b.session(o);
}

Tensor image_of(const Tensor& batch, int64_t i) {
  std::vector<int64_t> shape = batch.shape();
  const int64_t n = shape[0];
  shape[0] = 1;
  Tensor t = Tensor::uninitialized(batch.dtype(), shape);
  std::memcpy(t.data(), static_cast<const char*>(batch.data()) + i * (batch.nbytes() / n), t.nbytes());
  return t;
}

bool same_bits(const Tensor& a, const Tensor& b) {
  return a.dtype() == b.dtype() && a.shape() == b.shape() && std::memcmp(a.data(), b.data(), a.nbytes()) == 0;
}

TEST(BatchSplit, EachImageAsIfRunAloneForEveryThreadCount) {
  // 96² images: one thread splits only from 2 MiB of per-image activations.
  const ModelBuilder b = cnn({}, {-1, 3, 96, 96});
  const Tensor x = random_f32({5, 3, 96, 96}, 11);
  Session one = load(b, 1);
  ASSERT_TRUE(one.splits_batch()) << one.batch_split_reason();
  EXPECT_EQ(one.batch_split_reason(), "");
  std::vector<Tensor> alone;
  for (int64_t i = 0; i < 5; ++i) alone.push_back(one.run({image_of(x, i)})[0]);
  for (int threads : {1, 2, 3}) {
    Session s = load(b, threads);
    for (int rep = 0; rep < 2; ++rep) {  // the second run uses the planned arenas
      std::vector<Tensor> y = s.run({x});
      ASSERT_EQ(y.size(), 1u);
      ASSERT_EQ(y[0].shape(), (std::vector<int64_t>{5, 10}));
      for (int64_t i = 0; i < 5; ++i)
        EXPECT_TRUE(same_bits(image_of(y[0], i), alone[i])) << "image " << i << ", " << threads << " threads";
    }
  }
}

TEST(BatchSplit, MatchesTheWholeBatchRun) {
  const ModelBuilder b = cnn();
  const Tensor x = random_f32({4, 3, 64, 64}, 12);
  Session split = load(b, 2), whole = load(b, 2, false);
  EXPECT_TRUE(split.splits_batch());
  EXPECT_FALSE(whole.splits_batch());
  EXPECT_NE(whole.batch_split_reason().find("turned off"), std::string::npos);
  EXPECT_LT(max_abs_diff(split.run({x})[0], whole.run({x})[0]), 1e-5);
}

TEST(BatchSplit, ProfiledRunsAndSingleImagesRunWhole) {
  const ModelBuilder b = cnn();
  Session s = load(b, 2);
  const Tensor x = random_f32({3, 3, 64, 64}, 13);
  std::vector<NodeProfile> profile;
  Tensor profiled = s.run_profiled({x}, profile)[0];
  // One entry per node of one whole-batch run, not one per image.
  EXPECT_FALSE(profile.empty());
  for (const NodeProfile& p : profile)
    if (!p.input_shapes.empty() && !p.input_shapes[0].empty()) {
      EXPECT_EQ(p.input_shapes[0][0], 3) << p.name;
    }
  EXPECT_LT(max_abs_diff(profiled, s.run({x})[0]), 1e-5);
}

// ShuffleNet-v2's channel shuffle and channel split as PyTorch exports them:
// the sizes are read off the tensor (Shape → Gather → Div → Unsqueeze →
// Concat) and fed to Reshape and Slice, the batch size among them.
void channel_shuffle(ModelBuilder& b) {
  b.initializer("i0", make_i64({}, {0}));
  b.initializer("i1", make_i64({}, {1}));
  b.initializer("i23", make_i64({2}, {2, 3}));
  b.initializer("two", make_i64({}, {2}));
  b.initializer("two_v", make_i64({1}, {2}));
  b.initializer("minus1", make_i64({1}, {-1}));
  b.initializer("ax0", make_i64({1}, {0}));
  b.initializer("ax1", make_i64({1}, {1}));
  b.initializer("zero_v", make_i64({1}, {0}));
  b.node("Shape", {"feat"}, {"sh_shp"}, "shape1");
  b.node("Gather", {"sh_shp", "i0"}, {"sh_n"}, "gather_n");
  b.node("Gather", {"sh_shp", "i1"}, {"sh_c"}, "gather_c");
  b.node("Gather", {"sh_shp", "i23"}, {"sh_hw"}, "gather_hw");
  b.node("Div", {"sh_c", "two"}, {"sh_half"}, "div_c");
  attr(b.node("Cast", {"sh_half"}, {"sh_half_i"}, "cast_half"), "to", int64_t{7});
  b.node("Unsqueeze", {"sh_n", "ax0"}, {"sh_n_v"}, "unsq_n");
  b.node("Unsqueeze", {"sh_half_i", "ax0"}, {"sh_half_v"}, "unsq_half");
  attr(b.node("Concat", {"sh_n_v", "two_v", "sh_half_v", "sh_hw"}, {"sh_shape5"}, "cat5"), "axis", int64_t{0});
  b.node("Reshape", {"feat", "sh_shape5"}, {"sh_r5"}, "reshape5");
  auto& t = b.node("Transpose", {"sh_r5"}, {"sh_t5"}, "shuffle");
  attr(t, "perm", std::vector<int64_t>{0, 2, 1, 3, 4});
  attr(b.node("Concat", {"sh_n_v", "minus1", "sh_hw"}, {"sh_shape4"}, "cat4"), "axis", int64_t{0});
  b.node("Reshape", {"sh_t5", "sh_shape4"}, {"shuffled"}, "reshape4");
  // The split reads the shuffled tensor's channels: only the per-image
  // shapes recovered through the Reshape to [N, -1, H, W] give them.
  b.node("Shape", {"shuffled"}, {"sh_shp2"}, "shape2");
  b.node("Gather", {"sh_shp2", "i1"}, {"sh_c2"}, "gather_c2");
  b.node("Div", {"sh_c2", "two"}, {"sh_h2"}, "div_c2");
  b.node("Unsqueeze", {"sh_h2", "ax0"}, {"sh_h2_v"}, "unsq_h2");
  b.node("Mul", {"sh_h2_v", "two_v"}, {"sh_end2"}, "mul_end");
  b.node("Slice", {"shuffled", "zero_v", "sh_h2_v", "ax1"}, {"sh_left"}, "slice_left");
  b.node("Slice", {"shuffled", "sh_h2_v", "sh_end2", "ax1"}, {"sh_right"}, "slice_right");
  b.node("Sub", {"sh_left", "sh_right"}, {"mix"}, "mix");
  b.output("mix");
}

TEST(BatchSplit, FollowsShapeArithmeticReadOffTheBatch) {
  const ModelBuilder b = cnn(channel_shuffle);
  const Tensor x = random_f32({3, 3, 64, 64}, 15);
  Session one = load(b, 2);
  ASSERT_TRUE(one.splits_batch()) << one.batch_split_reason();
  std::vector<std::vector<Tensor>> alone;
  for (int64_t i = 0; i < 3; ++i) alone.push_back(one.run({image_of(x, i)}));
  const std::vector<Tensor> whole = load(b, 2, false).run({x});
  for (int threads : {2, 3}) {
    Session s = load(b, threads);
    ASSERT_TRUE(s.splits_batch()) << s.batch_split_reason();
    const std::vector<Tensor> y = s.run({x});
    ASSERT_EQ(y.size(), 2u);
    ASSERT_EQ(y[0].shape(), (std::vector<int64_t>{3, 32, 64, 64}));  // the tweak's output comes first
    for (size_t o = 0; o < y.size(); ++o) {
      EXPECT_LT(max_abs_diff(y[o], whole[o]), 1e-5) << "output " << o;
      for (int64_t i = 0; i < 3; ++i)
        EXPECT_TRUE(same_bits(image_of(y[o], i), alone[static_cast<size_t>(i)][o]))
            << "output " << o << " image " << i << ", " << threads << " threads";
    }
  }
}

TEST(BatchSplit, OneThreadAsksForLargerImages) {
  Session s = load(cnn(), 1);  // 64² images: 1 MiB activations, enough for two threads but not for one
  EXPECT_FALSE(s.splits_batch());
  EXPECT_NE(s.batch_split_reason().find("on one thread"), std::string::npos) << s.batch_split_reason();
  EXPECT_TRUE(load(cnn(), 2).splits_batch());
}

struct Refusal {
  std::string label;
  std::function<void(ModelBuilder&)> tweak;
  std::string why;  // part of the reason
  std::vector<int64_t> x_shape = {-1, 3, 64, 64};
};

class BatchSplitRefusal : public testing::TestWithParam<Refusal> {};

TEST_P(BatchSplitRefusal, RunsTheBatchWholeAndSaysWhy) {
  const Refusal& r = GetParam();
  ModelBuilder b = cnn(r.tweak, r.x_shape);
  Session s = load(b, 2);
  EXPECT_FALSE(s.splits_batch());
  EXPECT_NE(s.batch_split_reason().find(r.why), std::string::npos) << s.batch_split_reason();
  // And still runs: a batch of 2 (or the fixed batch) gives the whole-batch answer.
  std::vector<int64_t> shape = r.x_shape;
  if (shape[0] < 0) shape[0] = 2;
  const Tensor x = random_f32(shape, 14);
  EXPECT_LT(max_abs_diff(s.run({x})[0], load(b, 2, false).run({x})[0]), 1e-6);
}

INSTANTIATE_TEST_SUITE_P(
    Cases, BatchSplitRefusal,
    testing::Values(
        Refusal{"fixed_batch", {}, "fixed first dimension", {2, 3, 64, 64}},
        Refusal{"softmax_over_batch",
                [](ModelBuilder& b) {
                  auto& n = b.node("Softmax", {"feat"}, {"sm"}, "sm0");
                  attr(n, "axis", int64_t{0});
                  b.output("sm");
                },
                "across the batch axis"},
        Refusal{"training_batchnorm",
                [](ModelBuilder& b) {
                  auto& bn = add_batchnorm(b, "feat", "bt", 64, 40, "bn_train");
                  attr(bn, "training_mode", int64_t{1});
                  b.output("bt");
                },
                "training mode"},
        Refusal{"concat_on_batch",
                [](ModelBuilder& b) {
                  auto& c = b.node("Concat", {"feat", "feat"}, {"cat"}, "cat");
                  attr(c, "axis", int64_t{0});
                  b.output("cat");
                },
                "along the batch axis"},
        Refusal{"reshape_merging_images",
                [](ModelBuilder& b) {
                  b.initializer("shape", make_i64({2}, {1, -1}));
                  b.node("Reshape", {"feat", "shape"}, {"flat"}, "merge");
                  b.output("flat");
                },
                "does not keep the batch axis"},
        Refusal{"reduce_over_batch",
                [](ModelBuilder& b) {
                  auto& n = b.node("ReduceMean", {"feat"}, {"m"}, "mean0");
                  attr(n, "axes", std::vector<int64_t>{0});
                  b.output("m");
                },
                "reduces the batch axis"},
        Refusal{"transpose_moving_batch",
                [](ModelBuilder& b) {
                  auto& n = b.node("Transpose", {"feat"}, {"t"}, "swap");
                  attr(n, "perm", std::vector<int64_t>{1, 0, 2, 3});
                  b.output("t");
                },
                "moves the batch axis"},
        Refusal{"maxpool_indices",
                [](ModelBuilder& b) {
                  auto& n = b.node("MaxPool", {"feat"}, {"mp", "idx"}, "mp_idx");
                  attr(n, "kernel_shape", std::vector<int64_t>{2, 2});
                  b.output("idx");
                },
                "indices count across the whole batch"},
        Refusal{"constant_with_batch_rows",
                [](ModelBuilder& b) {
                  b.initializer("rows", random_f32({2, 64, 64, 64}, 41));
                  b.node("Add", {"feat", "rows"}, {"plus"}, "plus_rows");
                  b.output("plus");
                },
                "entries along the batch axis"},
        Refusal{"shape_as_output",
                [](ModelBuilder& b) {
                  b.node("Shape", {"feat"}, {"shp"}, "shape_of");
                  b.output("shp");
                },
                "graph output 'shp' does not carry the batch"},
        Refusal{"shape_values_through_an_op_not_followed",
                [](ModelBuilder& b) {  // [max(N, 64), -1]
                  b.initializer("i0", make_i64({1}, {0}));
                  b.initializer("c64", make_i64({1}, {64}));
                  b.initializer("minus1", make_i64({1}, {-1}));
                  b.node("Shape", {"feat"}, {"shp"}, "shape_of");
                  b.node("Gather", {"shp", "i0"}, {"n"}, "gather_n");
                  b.node("Max", {"n", "c64"}, {"m"}, "max_n");
                  attr(b.node("Concat", {"m", "minus1"}, {"target"}, "cat"), "axis", int64_t{0});
                  b.node("Reshape", {"feat", "target"}, {"flat"}, "merge");
                  b.output("flat");
                },
                "no per-image form is known for Max on shape values"},
        Refusal{"reshape_first_size_from_arithmetic_on_the_batch",
                [](ModelBuilder& b) {  // [N·64, -1]
                  b.initializer("i0", make_i64({1}, {0}));
                  b.initializer("c64", make_i64({1}, {64}));
                  b.initializer("minus1", make_i64({1}, {-1}));
                  b.node("Shape", {"feat"}, {"shp"}, "shape_of");
                  b.node("Gather", {"shp", "i0"}, {"n"}, "gather_n");
                  b.node("Mul", {"n", "c64"}, {"nc"}, "times_c");
                  attr(b.node("Concat", {"nc", "minus1"}, {"target"}, "cat"), "axis", int64_t{0});
                  b.node("Reshape", {"feat", "target"}, {"flat"}, "merge");
                  b.output("flat");
                },
                "first size is computed per run"},
        Refusal{"slice_bounded_by_the_batch_size",
                [](ModelBuilder& b) {  // channels [0, N)
                  b.initializer("i0", make_i64({1}, {0}));
                  b.initializer("ax1", make_i64({1}, {1}));
                  b.node("Shape", {"feat"}, {"shp"}, "shape_of");
                  b.node("Gather", {"shp", "i0"}, {"n"}, "gather_n");
                  b.node("Slice", {"feat", "i0", "n", "ax1"}, {"first_n"}, "slice_n");
                  b.output("first_n");
                },
                "depend on the batch"}),
    [](const auto& info) { return info.param.label; });

TEST(BatchSplit, SmallActivationsOrBigClassifierWeightsRunWhole) {
  {
    ModelBuilder b(15);  // an MLP: per-image rows of 32 floats
    b.input("x", DType::Float32, {-1, 32});
    b.initializer("w", random_f32({32, 16}, 1));
    b.node("MatMul", {"x", "w"}, {"y"}, "mm");
    b.output("y");
    Session s = load(b, 2);
    EXPECT_FALSE(s.splits_batch());
    EXPECT_NE(s.batch_split_reason().find("outweigh"), std::string::npos) << s.batch_split_reason();
  }
  {
    ModelBuilder b(15);  // one tiny conv: activations far below the threshold
    b.input("x", DType::Float32, {-1, 3, 8, 8});
    b.initializer("w", random_f32({4, 3, 3, 3}, 2));
    b.node("Conv", {"x", "w"}, {"y"}, "conv");
    b.output("y");
    Session s = load(b, 2);
    EXPECT_FALSE(s.splits_batch());
    EXPECT_NE(s.batch_split_reason().find("small"), std::string::npos) << s.batch_split_reason();
  }
}

}  // namespace
}  // namespace kiln::test
