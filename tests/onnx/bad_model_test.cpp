// Broken model files: every one must end in a kiln::Error whose message says
// what is wrong and where — never a crash, never a silent load.
#include <gtest/gtest.h>

#include <random>

#include <sys/stat.h>

#include "support/expect_error.h"
#include "support/model_builder.h"
#include "support/temp_dir.h"
#include "support/test_util.h"

namespace kiln::test {
namespace {

constexpr const char* kMemory = "<model in memory>";

ModelBuilder relu_model() {
  ModelBuilder b;
  b.input("x", DType::Float32, {2, 3});
  b.node("Relu", {"x"}, {"y"}, "relu");
  b.output("y");
  return b;
}

Session load_bytes(const std::string& bytes) { return Session::load_from_bytes(bytes.data(), bytes.size()); }

TEST(BadModel, TruncatedAtEveryOffset) {
  std::string bytes = relu_model().bytes();
  ASSERT_GT(bytes.size(), 20u);
  for (size_t cut = 0; cut < bytes.size(); ++cut) {
    SCOPED_TRACE("truncated to " + std::to_string(cut) + " of " + std::to_string(bytes.size()) + " bytes");
    // A cut may fall between top-level fields and leave a valid but
    // incomplete model; that too must be an error, naming the source.
    expect_error([&] { load_bytes(bytes.substr(0, cut)); }, {kMemory});
  }
}

TEST(BadModel, TruncatedFileNamesTheFile) {
  TempDir dir;
  std::string bytes = relu_model().bytes();
  for (size_t cut : {size_t{1}, size_t{7}, bytes.size() / 2, bytes.size() - 1}) {
    std::string path = dir.file("cut" + std::to_string(cut) + ".onnx");
    write_file(path, bytes.substr(0, cut));
    expect_error([&] { Session::load(path); }, {path});
  }
  std::string mid = dir.file("mid.onnx");
  write_file(mid, bytes.substr(0, bytes.size() / 2));
  expect_error([&] { Session::load(mid); }, {mid, "not a valid ONNX model", "truncated"});
}

TEST(BadModel, EmptyFile) {
  TempDir dir;
  std::string path = dir.file("empty.onnx");
  write_file(path, "");
  expect_error([&] { Session::load(path); }, {path, "empty"});
  expect_error([&] { load_bytes(""); }, {kMemory, "empty"});
}

TEST(BadModel, RandomBytes) {
  std::mt19937 rng(1234);
  for (size_t size : {1, 2, 16, 100, 1000, 100000}) {
    for (int rep = 0; rep < 5; ++rep) {
      std::string bytes(size, '\0');
      for (char& c : bytes) c = static_cast<char>(rng());
      SCOPED_TRACE("random bytes, size " + std::to_string(size) + " rep " + std::to_string(rep));
      expect_error([&] { load_bytes(bytes); }, {kMemory});
    }
  }
}

TEST(BadModel, CorruptedBytesLoadOrFailCleanly) {
  // Random byte changes in a valid model (with an initializer, a Constant and
  // attributes): each result either loads and runs or fails with kiln::Error.
  ModelBuilder b = relu_model();
  b.initializer("w", make_f32({2, 2}, {1, -2, 3, -4}));
  attr(b.node("Constant", {}, {"c"}), "value_ints", std::vector<int64_t>{3, 4});
  b.node("Relu", {"w"}, {"rw"});
  b.output("rw").output("c");
  const std::string good = b.bytes();
  std::mt19937 rng(99);
  int loaded = 0, refused = 0;
  for (int trial = 0; trial < 2000; ++trial) {
    std::string bytes = good;
    int changes = 1 + static_cast<int>(rng() % 3);
    for (int k = 0; k < changes; ++k) bytes[rng() % bytes.size()] = static_cast<char>(rng());
    try {
      Session s = load_bytes(bytes);
      ++loaded;
      std::vector<Tensor> inputs;
      for (const TensorInfo& info : s.inputs()) {
        std::vector<int64_t> shape = info.shape;
        for (int64_t& d : shape) d = d < 0 ? 1 : std::min<int64_t>(d, 4);
        inputs.push_back(Tensor(info.dtype, shape));
      }
      try {
        s.run(inputs);
      } catch (const Error&) {
      }
    } catch (const Error& e) {
      ++refused;
      EXPECT_GT(std::string(e.what()).size(), 10u);
    }
  }
  EXPECT_GT(refused, 0);
  EXPECT_EQ(loaded + refused, 2000);
}

TEST(BadModel, MissingFileAndFolder) {
  TempDir dir;
  std::string missing = dir.file("nope.onnx");
  expect_error([&] { Session::load(missing); }, {missing, "cannot open"});
  expect_error([&] { Session::load(dir.path().string()); }, {dir.path().string(), "directory"});
}

TEST(BadModel, FifoOrDeviceInsteadOfAModelFile) {
  // Opening a FIFO for reading would wait for a writer forever.
  TempDir dir;
  std::string fifo = dir.file("model.onnx");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  expect_error([&] { Session::load(fifo); }, {fifo, "not a regular file"});
  expect_error([&] { Session::load("/dev/zero"); }, {"/dev/zero", "not a regular file"});
}

TEST(BadModel, UnknownOp) {
  ModelBuilder b;
  b.input("x", DType::Float32, {2});
  b.node("NoSuchOp", {"x"}, {"y"}, "mystery");
  b.output("y");
  expect_error([&] { b.session(); }, {"mystery", "NoSuchOp", "not supported"});
}

TEST(BadModel, OpAtAnUnsupportedOpset) {
  ModelBuilder b(17);  // Gelu first appears in opset 20
  b.input("x", DType::Float32, {2});
  b.node("Gelu", {"x"}, {"y"}, "early_gelu");
  b.output("y");
  expect_error([&] { b.session(); }, {"early_gelu", "Gelu", "opset 17"});
}

TEST(BadModel, UnknownDomain) {
  ModelBuilder b;
  b.input("x", DType::Float32, {2});
  auto& n = b.node("Relu", {"x"}, {"y"}, "custom");
  n.set_domain("com.example");
  b.output("y");
  expect_error([&] { b.session(); }, {"custom", "com.example"});
}

TEST(BadModel, Cycle) {
  ModelBuilder b;
  b.input("x", DType::Float32, {2});
  b.node("Relu", {"b"}, {"a"}, "first");
  b.node("Relu", {"a"}, {"b"}, "second");
  b.node("Relu", {"x"}, {"y"}, "outside");
  b.output("a").output("y");
  expect_error([&] { b.session(); }, {"cycle", "Relu"});
}

TEST(BadModel, SelfLoop) {
  ModelBuilder b;
  b.node("Relu", {"a"}, {"a"}, "loop");
  b.output("a");
  expect_error([&] { b.session(); }, {"cycle", "loop"});
}

TEST(BadModel, InputNothingProduces) {
  ModelBuilder b;
  b.input("x", DType::Float32, {2});
  b.node("Relu", {"ghost"}, {"y"}, "consumer");
  b.output("y");
  expect_error([&] { b.session(); }, {"consumer", "'ghost'", "not produced"});
}

TEST(BadModel, OutputNothingProduces) {
  ModelBuilder b = relu_model();
  b.output("phantom");
  expect_error([&] { b.session(); }, {"'phantom'", "not produced"});
}

TEST(BadModel, ValueProducedTwice) {
  ModelBuilder b;
  b.input("x", DType::Float32, {2});
  b.node("Relu", {"x"}, {"y"}, "one");
  b.node("Relu", {"x"}, {"y"}, "two");
  b.output("y");
  expect_error([&] { b.session(); }, {"'y'", "one", "two"});
}

TEST(BadModel, MissingOpsetImport) {
  // From IR version 3 on, opset_import is required; without it the model is
  // broken (a file cut just before its last top-level field looks like this).
  ModelBuilder b = relu_model();
  b.proto().clear_opset_import();
  expect_error([&] { b.session(); }, {kMemory, "IR version 8", "imports no opset"});
  // IR version 1/2 models predate opset_import and mean opset 1.
  ModelBuilder old;
  old.proto().set_ir_version(2);
  old.proto().clear_opset_import();
  old.initializer("w", make_f32({1}, {5}));
  old.output("w");
  EXPECT_EQ(old.session().run(std::vector<Tensor>{})[0].data_as<float>()[0], 5.0f);
}

TEST(BadModel, ConstantOutputClashesWithAGraphInput) {
  // Otherwise the constant would silently replace the caller's input.
  ModelBuilder b = relu_model();
  attr(b.node("Constant", {}, {"x"}, "shadow"), "value_float", 1.0f);
  expect_error([&] { b.session(); }, {"shadow", "'x'", "defined twice"});

  ModelBuilder two;
  attr(two.node("Constant", {}, {"c"}, "c1"), "value_float", 1.0f);
  attr(two.node("Constant", {}, {"c"}, "c2"), "value_float", 2.0f);
  two.output("c");
  expect_error([&] { two.session(); }, {"c2", "'c'", "defined twice"});

  ModelBuilder after;
  after.input("x", DType::Float32, {1});
  after.node("Relu", {"x"}, {"c"}, "producer");
  attr(after.node("Constant", {}, {"c"}, "late"), "value_float", 2.0f);
  after.output("c");
  expect_error([&] { after.session(); }, {"producer", "'c'"});
}

TEST(BadModel, NulByteInANameIsRefused) {
  // A NUL would cut the C-string error message that names the node short.
  ModelBuilder b;
  b.input("x", DType::Float32, {2});
  b.node("Relu", {"x"}, {"y"}, std::string("re\0lu", 5));
  b.output("y");
  expect_error([&] { b.session(); }, {kMemory, "node 0", "NUL byte"});

  ModelBuilder v;
  v.input(std::string("x\0", 2), DType::Float32, {2});
  v.node("Relu", {std::string("x\0", 2)}, {"y"});
  v.output("y");
  expect_error([&] { v.session(); }, {kMemory, "graph input", "NUL byte"});
}

TEST(BadModel, NoGraphOrNoOutputs) {
  onnx::ModelProto m;
  m.set_ir_version(8);
  expect_error([&] { load_bytes(m.SerializeAsString()); }, {kMemory, "no graph"});
  ModelBuilder b;
  b.input("x", DType::Float32, {2});
  b.node("Relu", {"x"}, {"y"});
  expect_error([&] { b.session(); }, {kMemory, "no outputs"});
}

onnx::TensorProto* raw_initializer(ModelBuilder& b, const std::string& name, std::vector<int64_t> dims, size_t bytes) {
  auto* p = b.proto().mutable_graph()->add_initializer();
  p->set_name(name);
  p->set_data_type(static_cast<int32_t>(DType::Float32));
  for (int64_t d : dims) p->add_dims(d);
  p->set_raw_data(std::string(bytes, '\0'));
  return p;
}

ModelBuilder uses(const std::string& name) {
  ModelBuilder b;
  b.node("Relu", {name}, {"y"});
  b.output("y");
  return b;
}

TEST(BadModel, InitializerRawDataShorterOrLonger) {
  for (size_t bytes : {size_t{1}, size_t{20}, size_t{28}}) {
    ModelBuilder b = uses("w");
    raw_initializer(b, "w", {2, 3}, bytes);
    expect_error([&] { b.session(); },
                 {kMemory, "initializer 'w'", "raw_data holds " + std::to_string(bytes) + " bytes", "2x3", "needs 24"});
  }
}

TEST(BadModel, InitializerTypedFieldShorterOrLonger) {
  for (int count : {5, 7}) {
    ModelBuilder b = uses("w");
    auto* p = b.proto().mutable_graph()->add_initializer();
    p->set_name("w");
    p->set_data_type(static_cast<int32_t>(DType::Float32));
    p->add_dims(2);
    p->add_dims(3);
    for (int i = 0; i < count; ++i) p->add_float_data(1.0f);
    expect_error([&] { b.session(); },
                 {"initializer 'w'", "float_data", "holds " + std::to_string(count) + " values", "2x3", "needs 6"});
  }
  ModelBuilder i64 = uses("w");
  auto* p = i64.proto().mutable_graph()->add_initializer();
  p->set_name("w");
  p->set_data_type(static_cast<int32_t>(DType::Int64));
  p->add_dims(4);
  p->add_int64_data(1);
  expect_error([&] { i64.session(); }, {"initializer 'w'", "int64_data", "holds 1", "needs 4"});
}

TEST(BadModel, InitializerDimsOverflowInt64) {
  ModelBuilder b = uses("w");
  raw_initializer(b, "w", {int64_t{1} << 40, int64_t{1} << 40}, 4);
  expect_error([&] { b.session(); }, {"initializer 'w'", "overflows"});

  ModelBuilder c = uses("w");
  raw_initializer(c, "w", {std::numeric_limits<int64_t>::max(), 2}, 4);
  expect_error([&] { c.session(); }, {"initializer 'w'", "overflows"});
}

TEST(BadModel, InitializerAboveElementLimit) {
  ModelBuilder b = uses("w");
  raw_initializer(b, "w", {int64_t{1} << 20, int64_t{1} << 20}, 4);  // 2^40 elements: no overflow, but too many
  expect_error([&] { b.session(); }, {"initializer 'w'", "exceeds the limit"});
}

TEST(BadModel, InitializerNegativeDims) {
  ModelBuilder b = uses("w");
  raw_initializer(b, "w", {2, -3}, 0);
  expect_error([&] { b.session(); }, {"initializer 'w'", "negative"});
}

TEST(BadModel, GraphInputNegativeDim) {
  ModelBuilder b;
  auto* in = b.proto().mutable_graph()->add_input();
  in->set_name("x");
  auto* tt = in->mutable_type()->mutable_tensor_type();
  tt->set_elem_type(static_cast<int32_t>(DType::Float32));
  tt->mutable_shape()->add_dim()->set_dim_value(-3);
  b.node("Relu", {"x"}, {"y"});
  b.output("y");
  expect_error([&] { b.session(); }, {"'x'", "negative dimension -3"});
}

TEST(BadModel, GraphInputHugeDimsLoadButRefuseRealInputs) {
  // Declared dims whose product overflows are only a declaration; no memory is
  // reserved for them, and a real input must still match them.
  ModelBuilder b;
  b.input("x", DType::Float32, {int64_t{1} << 40, int64_t{1} << 40});
  b.node("Relu", {"x"}, {"y"});
  b.output("y");
  try {
    Session s = b.session();
    expect_error([&] { s.run({make_f32({1, 1}, {1})}); }, {"'x'", "expected shape"});
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'x'"), std::string::npos) << e.what();
  }
}

TEST(BadModel, GraphInputWithoutTypeOrUnsupportedDtype) {
  ModelBuilder b;
  b.proto().mutable_graph()->add_input()->set_name("x");
  b.node("Relu", {"x"}, {"y"});
  b.output("y");
  expect_error([&] { b.session(); }, {"'x'", "no type"});

  ModelBuilder s;
  s.input("x", DType::String, {2});
  s.node("Relu", {"x"}, {"y"});
  s.output("y");
  expect_error([&] { s.session(); }, {"'x'", "string", "not supported"});
}

TEST(BadModel, InitializerUnsupportedDtype) {
  ModelBuilder b = uses("w");
  auto* p = b.proto().mutable_graph()->add_initializer();
  p->set_name("w");
  p->set_data_type(static_cast<int32_t>(DType::String));
  p->add_dims(1);
  p->add_string_data("hi");
  expect_error([&] { b.session(); }, {"initializer 'w'", "string", "not supported"});
}

TEST(BadModel, DuplicateNames) {
  ModelBuilder b = relu_model();
  b.initializer("w", make_f32({1}, {1}));
  b.initializer("w", make_f32({1}, {2}));
  expect_error([&] { b.session(); }, {"initializer 'w'", "twice"});

  ModelBuilder i = relu_model();
  i.input("x", DType::Float32, {2, 3});
  expect_error([&] { i.session(); }, {"'x'", "twice"});
}

TEST(BadModel, WrongOperandDtypeNamesTheNode) {
  ModelBuilder b;
  b.input("x", DType::Int64, {2});
  b.node("Sigmoid", {"x"}, {"y"}, "int_sigmoid");
  b.output("y");
  expect_error([&] { b.session(); }, {"int_sigmoid", "Sigmoid", "int64"});
}

TEST(BadModel, WrongArityNamesTheNode) {
  ModelBuilder b;
  b.input("x", DType::Float32, {2});
  b.node("Relu", {"x", "x"}, {"y"}, "two_inputs");
  b.output("y");
  expect_error([&] { b.session(); }, {"two_inputs", "2 inputs"});
}

TEST(BadModel, ExternalDataOutsideTheFolder) {
  TempDir dir;
  ModelBuilder b = uses("w");
  auto* p = b.proto().mutable_graph()->add_initializer();
  p->set_name("w");
  p->set_data_type(static_cast<int32_t>(DType::Float32));
  p->add_dims(1);
  p->set_data_location(onnx::TensorProto::EXTERNAL);
  auto* kv = p->add_external_data();
  kv->set_key("location");
  kv->set_value("../../etc/passwd");
  std::string path = dir.file("m.onnx");
  b.save(path);
  expect_error([&] { Session::load(path); }, {path, "initializer 'w'", "'..'"});
}

TEST(BadModel, FileErrorsNameTheFileAlsoAfterParsing) {
  // Errors found after parsing (in shape inference) still name the file.
  TempDir dir;
  ModelBuilder b;
  b.input("x", DType::Float32, {2});
  b.node("NoSuchOp", {"x"}, {"y"}, "mystery");
  b.output("y");
  std::string path = dir.file("unknown_op.onnx");
  b.save(path);
  expect_error([&] { Session::load(path); }, {path, "mystery", "NoSuchOp"});
}

}  // namespace
}  // namespace kiln::test
