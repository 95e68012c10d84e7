// Session::run refuses inputs that do not fit the model, naming the input and
// what was expected.
#include <gtest/gtest.h>

#include "support/expect_error.h"
#include "support/model_builder.h"
#include "support/test_util.h"

namespace kiln::test {
namespace {

// Two inputs: x [N, 3] (N free) and z [2]; outputs Relu of each.
Session two_input_session() {
  ModelBuilder b;
  b.input("x", DType::Float32, {-1, 3});
  b.input("z", DType::Float32, {2});
  b.node("Relu", {"x"}, {"rx"});
  b.node("Relu", {"z"}, {"rz"});
  b.output("rx").output("rz");
  return b.session();
}

TEST(RunInputs, WrongCount) {
  Session s = two_input_session();
  expect_error([&] { s.run({random_f32({1, 3}, 1)}); }, {"takes 2 inputs", "1 were given"});
  expect_error([&] { s.run({random_f32({1, 3}, 1), random_f32({2}, 2), random_f32({2}, 3)}); },
               {"takes 2 inputs", "3 were given"});
  expect_error([&] { s.run(std::vector<Tensor>{}); }, {"takes 2 inputs", "0 were given"});
}

TEST(RunInputs, WrongShape) {
  Session s = two_input_session();
  expect_error([&] { s.run({random_f32({1, 4}, 1), random_f32({2}, 2)}); },
               {"input 0 'x'", "expected shape ?x3", "1x4"});
  expect_error([&] { s.run({random_f32({1, 3}, 1), random_f32({3}, 2)}); }, {"input 1 'z'", "expected shape 2", "got 3"});
  expect_error([&] { s.run({random_f32({3}, 1), random_f32({2}, 2)}); }, {"input 0 'x'", "?x3", "got 3"});
  expect_error([&] { s.run({random_f32({1, 3}, 1), random_f32({1, 2}, 2)}); }, {"input 1 'z'", "1x2"});
}

TEST(RunInputs, WrongDtype) {
  Session s = two_input_session();
  expect_error([&] { s.run({make_i64({1, 3}, {1, 2, 3}), random_f32({2}, 2)}); },
               {"input 0 'x'", "expected dtype float32", "int64"});
  expect_error([&] { s.run({random_f32({1, 3}, 1), Tensor(DType::Float64, {2})}); },
               {"input 1 'z'", "float32", "float64"});
}

TEST(RunInputs, EmptyTensor) {
  Session s = two_input_session();
  expect_error([&] { s.run({Tensor(), random_f32({2}, 2)}); }, {"input 0 'x'", "no tensor"});
}

TEST(RunInputs, ByName) {
  Session s = two_input_session();
  auto out = s.run(std::vector<std::pair<std::string, Tensor>>{{"z", make_f32({2}, {-1, 1})},
                                                               {"x", make_f32({1, 3}, {1, -2, 3})}});
  EXPECT_EQ(compare_tensors(out[0], make_f32({1, 3}, {1, 0, 3}), 0, 0), "");
  EXPECT_EQ(compare_tensors(out[1], make_f32({2}, {0, 1}), 0, 0), "");
  using Named = std::vector<std::pair<std::string, Tensor>>;
  expect_error([&] { s.run(Named{{"x", random_f32({1, 3}, 1)}}); }, {"'z'", "not given"});
  expect_error([&] { s.run(Named{{"x", random_f32({1, 3}, 1)}, {"w", random_f32({2}, 1)}}); }, {"no input named 'w'"});
  expect_error([&] { s.run(Named{{"x", random_f32({1, 3}, 1)}, {"x", random_f32({1, 3}, 1)}}); }, {"'x'", "twice"});
}

TEST(RunInputs, CallerProvidedOutputs) {
  Session s = two_input_session();
  std::vector<float> mem(3, 99.0f);
  std::vector<Tensor> outs{Tensor::wrap(DType::Float32, {1, 3}, mem.data()), Tensor()};
  s.run({make_f32({1, 3}, {-1, 2, -3}), make_f32({2}, {4, -5})}, outs);
  EXPECT_EQ(mem, (std::vector<float>{0, 2, 0}));  // written in place
  EXPECT_EQ(compare_tensors(outs[1], make_f32({2}, {4, 0}), 0, 0), "");
  // A slot of the wrong shape is replaced, the caller's memory left alone.
  std::vector<float> other(2, 7.0f);
  outs[0] = Tensor::wrap(DType::Float32, {2}, other.data());
  s.run({make_f32({1, 3}, {1, 1, 1}), make_f32({2}, {1, 1})}, outs);
  EXPECT_EQ(other, (std::vector<float>{7, 7}));
  EXPECT_EQ(outs[0].shape(), (std::vector<int64_t>{1, 3}));
}

TEST(RunInputs, ThreadsOption) {
  ModelBuilder b;
  b.input("x", DType::Float32, {2});
  b.node("Relu", {"x"}, {"y"});
  b.output("y");
  SessionOptions o;
  o.threads = 3;
  EXPECT_EQ(b.session(o).threads(), 3);
  o.threads = -1;
  expect_error([&] { b.session(o); }, {"threads"});
  o.threads = 0;
  EXPECT_GE(b.session(o).threads(), 1);
}

}  // namespace
}  // namespace kiln::test
