// The ONNX loader: initializer encodings, Constant forms, graph inputs and
// their dims, value_info, external data and its refusals, large models.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <limits>

#include "support/expect_error.h"
#include "support/model_builder.h"
#include "support/temp_dir.h"
#include "support/test_util.h"

namespace kiln::test {
namespace {

namespace fs = std::filesystem;

// The value an initializer loads as: a model whose only output is that
// initializer returns it unchanged.
Tensor load_initializer(onnx::TensorProto proto) {
  proto.set_name("w");
  ModelBuilder b;
  *b.proto().mutable_graph()->add_initializer() = proto;
  b.output("w");
  auto out = b.session().run(std::vector<Tensor>{});
  EXPECT_EQ(out.size(), 1u);
  return out.at(0);
}

onnx::TensorProto typed(DType dtype, std::vector<int64_t> dims) {
  onnx::TensorProto p;
  p.set_data_type(static_cast<int32_t>(dtype));
  for (int64_t d : dims) p.add_dims(d);
  return p;
}

template <class T>
std::vector<T> values_of(const Tensor& t) {
  return std::vector<T>(t.data_as<T>(), t.data_as<T>() + t.numel());
}

// ---- initializers: raw_data and every typed field ----

TEST(LoaderInitializer, RawDataEveryDtype) {
  struct Case { DType dtype; size_t size; };
  for (Case c : {Case{DType::Float32, 4}, Case{DType::Float64, 8}, Case{DType::Int64, 8}, Case{DType::Int32, 4},
                 Case{DType::Int16, 2}, Case{DType::Int8, 1}, Case{DType::UInt8, 1}, Case{DType::UInt16, 2},
                 Case{DType::UInt32, 4}, Case{DType::UInt64, 8}, Case{DType::Bool, 1}, Case{DType::Float16, 2},
                 Case{DType::BFloat16, 2}}) {
    SCOPED_TRACE(dtype_name(c.dtype));
    auto p = typed(c.dtype, {2, 3});
    std::string raw(6 * c.size, '\0');
    // Bool must hold 0/1; other dtypes take an arbitrary byte pattern.
    for (size_t i = 0; i < raw.size(); ++i) raw[i] = static_cast<char>(c.dtype == DType::Bool ? i % 2 : 0x11 * (i + 1));
    p.set_raw_data(raw);
    Tensor t = load_initializer(p);
    ASSERT_EQ(t.dtype(), c.dtype);
    ASSERT_EQ(t.shape(), (std::vector<int64_t>{2, 3}));
    ASSERT_EQ(t.nbytes(), raw.size());
    EXPECT_EQ(std::memcmp(t.data(), raw.data(), raw.size()), 0);
  }
}

TEST(LoaderInitializer, RawDataIsLittleEndian) {
  auto p = typed(DType::Int32, {1});
  p.set_raw_data(std::string("\x01\x02\x03\x04", 4));
  EXPECT_EQ(load_initializer(p).data_as<int32_t>()[0], 0x04030201);
}

TEST(LoaderInitializer, FloatData) {
  auto p = typed(DType::Float32, {2, 2});
  for (float v : {1.5f, -2.25f, 0.0f, std::numeric_limits<float>::max()}) p.add_float_data(v);
  Tensor t = load_initializer(p);
  EXPECT_EQ(values_of<float>(t), (std::vector<float>{1.5f, -2.25f, 0.0f, std::numeric_limits<float>::max()}));
}

TEST(LoaderInitializer, Int32DataForInt32) {
  auto p = typed(DType::Int32, {3});
  for (int32_t v : {std::numeric_limits<int32_t>::min(), 0, std::numeric_limits<int32_t>::max()}) p.add_int32_data(v);
  EXPECT_EQ(values_of<int32_t>(load_initializer(p)),
            (std::vector<int32_t>{std::numeric_limits<int32_t>::min(), 0, std::numeric_limits<int32_t>::max()}));
}

TEST(LoaderInitializer, Int32DataForInt8) {
  auto p = typed(DType::Int8, {4});
  for (int v : {-128, -1, 0, 127}) p.add_int32_data(v);
  EXPECT_EQ(values_of<int8_t>(load_initializer(p)), (std::vector<int8_t>{-128, -1, 0, 127}));
}

TEST(LoaderInitializer, Int32DataForInt16) {
  auto p = typed(DType::Int16, {3});
  for (int v : {-32768, 7, 32767}) p.add_int32_data(v);
  EXPECT_EQ(values_of<int16_t>(load_initializer(p)), (std::vector<int16_t>{-32768, 7, 32767}));
}

TEST(LoaderInitializer, Int32DataForUInt8) {
  auto p = typed(DType::UInt8, {3});
  for (int v : {0, 128, 255}) p.add_int32_data(v);
  EXPECT_EQ(values_of<uint8_t>(load_initializer(p)), (std::vector<uint8_t>{0, 128, 255}));
}

TEST(LoaderInitializer, Int32DataForUInt16) {
  auto p = typed(DType::UInt16, {3});
  for (int v : {0, 40000, 65535}) p.add_int32_data(v);
  EXPECT_EQ(values_of<uint16_t>(load_initializer(p)), (std::vector<uint16_t>{0, 40000, 65535}));
}

TEST(LoaderInitializer, Int32DataForBool) {
  auto p = typed(DType::Bool, {4});
  for (int v : {0, 1, 1, 0}) p.add_int32_data(v);
  Tensor t = load_initializer(p);
  EXPECT_EQ(t.dtype(), DType::Bool);
  EXPECT_EQ(values_of<uint8_t>(t), (std::vector<uint8_t>{0, 1, 1, 0}));
}

TEST(LoaderInitializer, Int32DataForFloat16HoldsTheBitPattern) {
  // float16 bits in the low 16 bits of each int32: 1.0, -2.0, 65504 (max), smallest subnormal.
  auto p = typed(DType::Float16, {4});
  for (int v : {0x3C00, 0xC000, 0x7BFF, 0x0001}) p.add_int32_data(v);
  Tensor t = load_initializer(p);
  EXPECT_EQ(t.dtype(), DType::Float16);
  EXPECT_EQ(values_of<uint16_t>(t), (std::vector<uint16_t>{0x3C00, 0xC000, 0x7BFF, 0x0001}));
}

TEST(LoaderInitializer, Int64Data) {
  auto p = typed(DType::Int64, {3});
  for (int64_t v : {std::numeric_limits<int64_t>::min(), int64_t{-5}, std::numeric_limits<int64_t>::max()})
    p.add_int64_data(v);
  EXPECT_EQ(values_of<int64_t>(load_initializer(p)),
            (std::vector<int64_t>{std::numeric_limits<int64_t>::min(), -5, std::numeric_limits<int64_t>::max()}));
}

TEST(LoaderInitializer, DoubleData) {
  auto p = typed(DType::Float64, {3});
  for (double v : {0.1, -1e300, 3.0}) p.add_double_data(v);
  EXPECT_EQ(values_of<double>(load_initializer(p)), (std::vector<double>{0.1, -1e300, 3.0}));
}

TEST(LoaderInitializer, Uint64DataForUInt32) {
  auto p = typed(DType::UInt32, {3});
  for (uint64_t v : {uint64_t{0}, uint64_t{123456789}, uint64_t{4294967295u}}) p.add_uint64_data(v);
  EXPECT_EQ(values_of<uint32_t>(load_initializer(p)), (std::vector<uint32_t>{0, 123456789, 4294967295u}));
}

TEST(LoaderInitializer, Uint64DataForUInt64) {
  auto p = typed(DType::UInt64, {2});
  for (uint64_t v : {uint64_t{1}, std::numeric_limits<uint64_t>::max()}) p.add_uint64_data(v);
  EXPECT_EQ(values_of<uint64_t>(load_initializer(p)), (std::vector<uint64_t>{1, std::numeric_limits<uint64_t>::max()}));
}

TEST(LoaderInitializer, ScalarAndEmptyTensors) {
  auto scalar = typed(DType::Float32, {});
  scalar.add_float_data(4.5f);
  Tensor s = load_initializer(scalar);
  EXPECT_EQ(s.rank(), 0u);
  EXPECT_EQ(s.data_as<float>()[0], 4.5f);

  Tensor e = load_initializer(typed(DType::Float32, {0, 3}));
  EXPECT_EQ(e.shape(), (std::vector<int64_t>{0, 3}));
  EXPECT_EQ(e.numel(), 0);
}

TEST(LoaderInitializer, FeedsANode) {
  ModelBuilder b;
  b.initializer("w", make_f32({4}, {-1, 2, -3, 4}));
  b.node("Relu", {"w"}, {"y"});
  b.output("y");
  auto out = b.session().run(std::vector<Tensor>{});
  EXPECT_EQ(compare_tensors(out[0], make_f32({4}, {0, 2, 0, 4}), 0, 0), "");
}

// ---- Constant in every attribute form ----

Tensor constant_output(const std::function<void(onnx::NodeProto&)>& set) {
  ModelBuilder b;
  set(b.node("Constant", {}, {"c"}, "the_constant"));
  b.output("c");
  return b.session().run(std::vector<Tensor>{}).at(0);
}

TEST(LoaderConstant, ValueTensor) {
  Tensor t = constant_output([](onnx::NodeProto& n) { attr(n, "value", make_i64({2}, {7, -8})); });
  EXPECT_EQ(t.dtype(), DType::Int64);
  EXPECT_EQ(values_of<int64_t>(t), (std::vector<int64_t>{7, -8}));
}

TEST(LoaderConstant, ValueFloat) {
  Tensor t = constant_output([](onnx::NodeProto& n) { attr(n, "value_float", 2.5f); });
  EXPECT_EQ(t.dtype(), DType::Float32);
  EXPECT_EQ(t.rank(), 0u);
  EXPECT_EQ(t.data_as<float>()[0], 2.5f);
}

TEST(LoaderConstant, ValueFloats) {
  Tensor t = constant_output([](onnx::NodeProto& n) { attr(n, "value_floats", std::vector<float>{1, -2, 3}); });
  EXPECT_EQ(t.shape(), (std::vector<int64_t>{3}));
  EXPECT_EQ(values_of<float>(t), (std::vector<float>{1, -2, 3}));
}

TEST(LoaderConstant, ValueInt) {
  Tensor t = constant_output([](onnx::NodeProto& n) { attr(n, "value_int", int64_t{-42}); });
  EXPECT_EQ(t.dtype(), DType::Int64);
  EXPECT_EQ(t.rank(), 0u);
  EXPECT_EQ(t.data_as<int64_t>()[0], -42);
}

TEST(LoaderConstant, ValueInts) {
  Tensor t = constant_output([](onnx::NodeProto& n) { attr(n, "value_ints", std::vector<int64_t>{1, 2, 3, 4}); });
  EXPECT_EQ(t.dtype(), DType::Int64);
  EXPECT_EQ(values_of<int64_t>(t), (std::vector<int64_t>{1, 2, 3, 4}));
}

TEST(LoaderConstant, FeedsANode) {
  ModelBuilder b;
  attr(b.node("Constant", {}, {"c"}), "value_floats", std::vector<float>{-1, 2, -0.5f});
  b.node("Relu", {"c"}, {"y"});
  b.output("y");
  auto out = b.session().run(std::vector<Tensor>{});
  EXPECT_EQ(compare_tensors(out[0], make_f32({3}, {0, 2, 0}), 0, 0), "");
}

TEST(LoaderConstant, ValueStringIsRefusedClearly) {
  ModelBuilder b;
  attr(b.node("Constant", {}, {"c"}, "str_const"), "value_string", std::string("hello"));
  b.output("c");
  expect_error([&] { b.session(); }, {"str_const", "Constant", "value_string", "not supported"});
}

TEST(LoaderConstant, NeedsExactlyOneValueAttribute) {
  ModelBuilder none;
  none.node("Constant", {}, {"c"}, "empty_const");
  none.output("c");
  expect_error([&] { none.session(); }, {"empty_const", "exactly one"});

  ModelBuilder two;
  auto& n = two.node("Constant", {}, {"c"}, "double_const");
  attr(n, "value_float", 1.0f);
  attr(n, "value_int", int64_t{1});
  two.output("c");
  expect_error([&] { two.session(); }, {"double_const", "exactly one"});
}

// ---- graph inputs ----

TEST(LoaderInputs, InitializersListedAsInputsAreNotInputs) {
  // IR version 3 models list every initializer among the graph inputs too.
  ModelBuilder b;
  b.proto().set_ir_version(3);
  b.input("x", DType::Float32, {2});
  b.input("w", DType::Float32, {2});
  b.initializer("w", make_f32({2}, {-1, 1}));
  b.node("Relu", {"x"}, {"y"});
  b.node("Relu", {"w"}, {"z"});
  b.output("y").output("z");
  Session s = b.session();
  ASSERT_EQ(s.inputs().size(), 1u);
  EXPECT_EQ(s.inputs()[0].name, "x");
  auto out = s.run({make_f32({2}, {3, -3})});
  EXPECT_EQ(compare_tensors(out[0], make_f32({2}, {3, 0}), 0, 0), "");
  EXPECT_EQ(compare_tensors(out[1], make_f32({2}, {0, 1}), 0, 0), "");
}

TEST(LoaderInputs, SymbolicAndFreeDims) {
  ModelBuilder b;
  auto* in = b.proto().mutable_graph()->add_input();
  in->set_name("x");
  auto* tt = in->mutable_type()->mutable_tensor_type();
  tt->set_elem_type(static_cast<int32_t>(DType::Float32));
  tt->mutable_shape()->add_dim()->set_dim_param("batch");
  tt->mutable_shape()->add_dim();  // neither value nor name: a free dim
  tt->mutable_shape()->add_dim()->set_dim_value(3);
  b.node("Relu", {"x"}, {"y"});
  auto* out = b.proto().mutable_graph()->add_output();
  out->set_name("y");
  auto* ot = out->mutable_type()->mutable_tensor_type();
  ot->set_elem_type(static_cast<int32_t>(DType::Float32));
  ot->mutable_shape()->add_dim()->set_dim_param("batch");
  ot->mutable_shape()->add_dim()->set_dim_param("len");
  ot->mutable_shape()->add_dim()->set_dim_value(3);

  Session s = b.session();
  const TensorInfo& i = s.inputs().at(0);
  EXPECT_TRUE(i.has_shape);
  EXPECT_EQ(i.dtype, DType::Float32);
  EXPECT_EQ(i.shape, (std::vector<int64_t>{-1, -1, 3}));
  EXPECT_EQ(i.dim_names, (std::vector<std::string>{"batch", "", ""}));
  const TensorInfo& o = s.outputs().at(0);
  EXPECT_EQ(o.shape, (std::vector<int64_t>{-1, -1, 3}));
  EXPECT_EQ(o.dim_names, (std::vector<std::string>{"batch", "len", ""}));

  // Free dims take any size at run time; fixed dims do not.
  for (auto shape : {std::vector<int64_t>{1, 1, 3}, std::vector<int64_t>{4, 7, 3}}) {
    Tensor x = random_f32(shape, 3);
    auto y = s.run({x});
    EXPECT_EQ(y[0].shape(), shape);
  }
  expect_error([&] { s.run({random_f32({1, 1, 4}, 3)}); }, {"'x'", "expected shape ?x?x3", "1x1x4"});
}

TEST(LoaderInputs, InputWithoutShape) {
  ModelBuilder b;
  auto* in = b.proto().mutable_graph()->add_input();
  in->set_name("x");
  in->mutable_type()->mutable_tensor_type()->set_elem_type(static_cast<int32_t>(DType::Float32));
  b.node("Relu", {"x"}, {"y"});
  b.output("y");
  Session s = b.session();
  EXPECT_FALSE(s.inputs()[0].has_shape);
  EXPECT_EQ(s.run({make_f32({2, 1}, {-1, 1})})[0].shape(), (std::vector<int64_t>{2, 1}));
}

// ---- value_info ----

void add_value_info(ModelBuilder& b, const std::string& name, DType dtype, std::vector<int64_t> dims) {
  auto* vi = b.proto().mutable_graph()->add_value_info();
  vi->set_name(name);
  auto* tt = vi->mutable_type()->mutable_tensor_type();
  tt->set_elem_type(static_cast<int32_t>(dtype));
  for (int64_t d : dims) tt->mutable_shape()->add_dim()->set_dim_value(d);
}

ModelBuilder two_relus() {
  ModelBuilder b;
  b.input("x", DType::Float32, {2, 3});
  b.node("Relu", {"x"}, {"h"}, "first");
  b.node("Relu", {"h"}, {"y"}, "second");
  b.output("y");
  return b;
}

TEST(LoaderValueInfo, ConsistentValueInfoLoads) {
  ModelBuilder b = two_relus();
  add_value_info(b, "h", DType::Float32, {2, 3});
  Tensor x = random_f32({2, 3}, 1);
  auto y = b.session().run({x});
  EXPECT_EQ(y[0].shape(), (std::vector<int64_t>{2, 3}));
}

TEST(LoaderValueInfo, NonTensorValueInfoIsIgnored) {
  ModelBuilder b = two_relus();
  auto* vi = b.proto().mutable_graph()->add_value_info();
  vi->set_name("h");
  vi->mutable_type()->mutable_sequence_type()->mutable_elem_type()->mutable_tensor_type()->set_elem_type(1);
  EXPECT_NO_THROW(b.session());
}

TEST(LoaderValueInfo, ContradictingDtypeIsReported) {
  ModelBuilder b = two_relus();
  add_value_info(b, "h", DType::Int64, {2, 3});
  expect_error([&] { b.session(); }, {"first", "'h'", "int64", "float32"});
}

TEST(LoaderValueInfo, ContradictingShapeIsReported) {
  ModelBuilder b = two_relus();
  add_value_info(b, "h", DType::Float32, {3, 2});
  expect_error([&] { b.session(); }, {"first", "'h'", "3x2", "2x3"});
}

// ---- external data ----

struct ExternalModel {
  TempDir dir{"kiln-ext"};
  ModelBuilder b;
  onnx::TensorProto* w = nullptr;

  // A model with input x [2,3] → Relu → y, and output w: a [2,3] float
  // initializer stored externally at `location`.
  explicit ExternalModel(const std::string& location) {
    b.input("x", DType::Float32, {2, 3});
    b.node("Relu", {"x"}, {"y"});
    b.output("y").output("w");
    w = b.proto().mutable_graph()->add_initializer();
    w->set_name("w");
    w->set_data_type(static_cast<int32_t>(DType::Float32));
    w->add_dims(2);
    w->add_dims(3);
    w->set_data_location(onnx::TensorProto::EXTERNAL);
    entry("location", location);
  }
  void entry(const std::string& key, const std::string& value) {
    auto* kv = w->add_external_data();
    kv->set_key(key);
    kv->set_value(value);
  }
  std::string save() {
    std::string path = dir.file("model.onnx");
    b.save(path);
    return path;
  }
  Tensor load_w() {
    Session s = Session::load(save());
    return s.run({make_f32({2, 3}, {0, 0, 0, 0, 0, 0})}).at(1);
  }
};

std::string float_bytes(const std::vector<float>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(float));
}

const std::vector<float> kW = {1.5f, -2, 3, -4.25f, 5, 6};

TEST(LoaderExternalData, ReadsWholeFile) {
  ExternalModel m("weights.bin");
  write_file(m.dir.file("weights.bin"), float_bytes(kW));
  EXPECT_EQ(values_of<float>(m.load_w()), kW);
}

TEST(LoaderExternalData, ReadsOffsetAndLength) {
  ExternalModel m("weights.bin");
  m.entry("offset", "16");
  m.entry("length", "24");
  write_file(m.dir.file("weights.bin"), std::string(16, 'j') + float_bytes(kW) + std::string(8, 'k'));
  EXPECT_EQ(values_of<float>(m.load_w()), kW);
}

TEST(LoaderExternalData, ResolvesRelativeToTheModelFolderNotTheWorkingDirectory) {
  ExternalModel m("sub/dir/w.bin");
  fs::create_directories(m.dir.path() / "sub" / "dir");
  write_file(m.dir.file("sub/dir/w.bin"), float_bytes(kW));
  // The working directory is elsewhere: the model folder is what counts.
  EXPECT_NE(fs::current_path(), m.dir.path());
  EXPECT_EQ(values_of<float>(m.load_w()), kW);
}

TEST(LoaderExternalData, SymlinkInsideTheFolderIsFollowed) {
  ExternalModel m("link.bin");
  write_file(m.dir.file("real.bin"), float_bytes(kW));
  fs::create_symlink("real.bin", m.dir.path() / "link.bin");
  EXPECT_EQ(values_of<float>(m.load_w()), kW);
}

TEST(LoaderExternalData, RefusesDotDot) {
  ExternalModel m("../weights.bin");
  std::string path = m.save();
  expect_error([&] { Session::load(path); }, {path, "initializer 'w'", "'..'"});
  ExternalModel inner("sub/../../weights.bin");
  std::string inner_path = inner.save();
  expect_error([&] { Session::load(inner_path); }, {"initializer 'w'", "'..'"});
}

TEST(LoaderExternalData, RefusesAbsolutePath) {
  TempDir elsewhere;
  write_file(elsewhere.file("w.bin"), float_bytes(kW));
  ExternalModel m(elsewhere.file("w.bin"));
  std::string path = m.save();
  expect_error([&] { Session::load(path); }, {path, "initializer 'w'", "absolute path"});
}

TEST(LoaderExternalData, RefusesSymlinkPointingOutside) {
  TempDir elsewhere;
  write_file(elsewhere.file("w.bin"), float_bytes(kW));
  ExternalModel m("link.bin");
  fs::create_symlink(elsewhere.path() / "w.bin", m.dir.path() / "link.bin");
  std::string path = m.save();
  expect_error([&] { Session::load(path); }, {"initializer 'w'", "link.bin", "outside the model folder"});

  // A symlinked folder leading outside is refused the same way.
  ExternalModel d("out/w.bin");
  fs::create_directory_symlink(elsewhere.path(), d.dir.path() / "out");
  std::string dpath = d.save();
  expect_error([&] { Session::load(dpath); }, {"initializer 'w'", "outside the model folder"});
}

TEST(LoaderExternalData, RefusesOffsetBeyondTheFile) {
  ExternalModel m("weights.bin");
  m.entry("offset", "4096");
  write_file(m.dir.file("weights.bin"), float_bytes(kW));
  std::string path = m.save();
  expect_error([&] { Session::load(path); }, {"initializer 'w'", "weights.bin", "has 24 bytes"});
}

TEST(LoaderExternalData, RefusesFileShorterThanTheData) {
  ExternalModel m("weights.bin");
  m.entry("offset", "8");
  m.entry("length", "24");
  write_file(m.dir.file("weights.bin"), float_bytes(kW));  // 24 bytes, but [8, 32) is needed
  std::string path = m.save();
  expect_error([&] { Session::load(path); }, {"initializer 'w'", "[8, 32)", "has 24 bytes"});
}

TEST(LoaderExternalData, RefusesLengthMismatchingShape) {
  ExternalModel m("weights.bin");
  m.entry("length", "20");
  write_file(m.dir.file("weights.bin"), float_bytes(kW));
  std::string path = m.save();
  expect_error([&] { Session::load(path); }, {"initializer 'w'", "length 20", "2x3", "24 bytes"});
}

TEST(LoaderExternalData, RefusesMalformedOffset) {
  ExternalModel m("weights.bin");
  m.entry("offset", "-8");
  write_file(m.dir.file("weights.bin"), float_bytes(kW));
  std::string path = m.save();
  expect_error([&] { Session::load(path); }, {"initializer 'w'", "offset", "-8"});
}

TEST(LoaderExternalData, MissingFileIsReported) {
  ExternalModel m("nowhere.bin");
  std::string path = m.save();
  expect_error([&] { Session::load(path); }, {"initializer 'w'", "nowhere.bin"});
}

TEST(LoaderExternalData, FromMemoryNeedsABaseFolder) {
  ExternalModel m("weights.bin");
  write_file(m.dir.file("weights.bin"), float_bytes(kW));
  std::string bytes = m.b.bytes();
  expect_error([&] { Session::load_from_bytes(bytes.data(), bytes.size()); }, {"initializer 'w'", "base folder"});
  Session s = Session::load_from_bytes(bytes.data(), bytes.size(), {}, m.dir.path().string());
  EXPECT_EQ(values_of<float>(s.run({make_f32({2, 3}, {0, 0, 0, 0, 0, 0})}).at(1)), kW);
}

// ---- size ----

TEST(LoaderSize, ModelAbove64MiBLoads) {
  // protobuf's old default limit on one message was 64 MiB; kiln lifts it.
  constexpr int64_t n = (int64_t{64} << 20) / 4 + 1024;  // just over 64 MiB of float32
  Tensor big(DType::Float32, {n});
  float* p = big.data_as<float>();
  for (int64_t i = 0; i < n; i += 4096) p[i] = static_cast<float>(i);
  p[n - 1] = -7.0f;

  ModelBuilder b;
  b.initializer("big", big);
  b.node("Relu", {"big"}, {"y"});
  b.output("big").output("y");
  TempDir dir;
  std::string path = dir.file("big.onnx");
  b.save(path);
  ASSERT_GT(fs::file_size(path), uint64_t{64} << 20);

  Session s = Session::load(path);
  auto out = s.run(std::vector<Tensor>{});
  ASSERT_EQ(out[0].numel(), n);
  EXPECT_EQ(std::memcmp(out[0].data(), big.data(), big.nbytes()), 0);
  EXPECT_EQ(out[1].data_as<float>()[4096], 4096.0f);
  EXPECT_EQ(out[1].data_as<float>()[n - 1], 0.0f);

  // The same bytes from memory.
  std::string bytes = read_file(path);
  Session m = Session::load_from_bytes(bytes.data(), bytes.size());
  EXPECT_EQ(m.run(std::vector<Tensor>{})[0].data_as<float>()[n - 1], -7.0f);
}

}  // namespace
}  // namespace kiln::test
