// Hostile model files: sizes computed from data, limits, wrong field types,
// deep nesting, colliding names, and external data that tries to leave the
// model's folder. Each must end in a kiln::Error that says why — never a
// crash, a hang, a bad_alloc or a silent load.
#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

#include "support/expect_error.h"
#include "support/model_builder.h"
#include "support/temp_dir.h"
#include "support/test_util.h"

namespace kiln::test {
namespace {

constexpr int64_t kHuge = int64_t{1} << 40;  // elements: far above the default limit of 2^34

// ---- sizes computed from constant data: refused at load -------------------

TEST(HostileModel, ConstantOfShapeWithAbsurdConstantShape) {
  ModelBuilder b;
  b.initializer("shape", make_i64({2}, {kHuge, kHuge}));
  b.node("ConstantOfShape", {"shape"}, {"y"}, "cos");
  b.output("y");
  // 2^80 elements: does not even fit int64.
  expect_error([&] { b.session(); }, {"'y'", "limit"});

  ModelBuilder c;
  c.initializer("shape", make_i64({1}, {kHuge}));
  c.node("ConstantOfShape", {"shape"}, {"y"}, "cos");
  c.output("y");
  expect_error([&] { c.session(); }, {"'y'", "limit"});
}

TEST(HostileModel, ExpandTilePadResizeToAbsurdSizesAreRefusedAtLoad) {
  {
    ModelBuilder b;
    b.input("x", DType::Float32, {1, 1});
    b.initializer("shape", make_i64({2}, {kHuge, 4}));
    b.node("Expand", {"x", "shape"}, {"y"});
    b.output("y");
    expect_error([&] { b.session(); }, {"'y'", "limit"});
  }
  {
    ModelBuilder b;
    b.input("x", DType::Float32, {2, 2});
    b.initializer("reps", make_i64({2}, {kHuge, 1}));
    b.node("Tile", {"x", "reps"}, {"y"});
    b.output("y");
    expect_error([&] { b.session(); }, {"'y'", "limit"});
  }
  {
    ModelBuilder b;
    b.input("x", DType::Float32, {1, 2});
    b.initializer("pads", make_i64({4}, {0, kHuge, 0, 0}));
    b.node("Pad", {"x", "pads"}, {"y"});
    b.output("y");
    expect_error([&] { b.session(); }, {"'y'", "limit"});
  }
  {
    ModelBuilder b;
    b.input("x", DType::Float32, {1, 1, 2, 2});
    b.initializer("scales", make_f32({4}, {1, 1, 1e12f, 1e12f}));
    b.node("Resize", {"x", "", "scales"}, {"y"});
    b.output("y");
    expect_error([&] { b.session(); }, {"y"});
  }
}

TEST(HostileModel, LimitIsConfigurable) {
  ModelBuilder b;
  b.initializer("shape", make_i64({2}, {100, 100}));
  b.node("ConstantOfShape", {"shape"}, {"y"});
  b.output("y");
  SessionOptions o;
  o.max_tensor_elements = 9999;
  expect_error([&] { b.session(o); }, {"'y'", "100x100", "9999"});
  o.max_tensor_elements = 10000;
  EXPECT_EQ(b.session(o).run(std::vector<Tensor>{}).at(0).numel(), 10000);
}

// ---- sizes computed from runtime data: refused when the node runs ---------

TEST(HostileModel, ConstantOfShapeWithAbsurdRuntimeShape) {
  ModelBuilder b;
  b.input("s", DType::Int64, {2});
  b.node("ConstantOfShape", {"s"}, {"y"}, "cos");
  b.output("y");
  Session s = b.session();
  expect_error([&] { s.run({make_i64({2}, {kHuge, 2})}); }, {"cos", "limit"});
  expect_error([&] { s.run({make_i64({2}, {kHuge, kHuge})}); }, {"cos"});
  expect_error([&] { s.run({make_i64({2}, {-5, 2})}); }, {"cos"});
  // The session is unharmed and still answers correctly.
  EXPECT_EQ(s.run({make_i64({2}, {3, 2})}).at(0).shape(), (std::vector<int64_t>{3, 2}));
}

TEST(HostileModel, ExpandAndTileWithAbsurdRuntimeShape) {
  {
    ModelBuilder b;
    b.input("x", DType::Float32, {1});
    b.input("s", DType::Int64, {2});
    b.node("Expand", {"x", "s"}, {"y"}, "expand");
    b.output("y");
    Session s = b.session();
    expect_error([&] { s.run({make_f32({1}, {1}), make_i64({2}, {kHuge, 8})}); }, {"expand"});
  }
  {
    ModelBuilder b;
    b.input("x", DType::Float32, {1});
    b.input("r", DType::Int64, {1});
    b.node("Tile", {"x", "r"}, {"y"}, "tile");
    b.output("y");
    Session s = b.session();
    expect_error([&] { s.run({make_f32({1}, {1}), make_i64({1}, {kHuge})}); }, {"tile", "limit"});
  }
}

TEST(HostileModel, RuntimeLimitIsConfigurable) {
  ModelBuilder b;
  b.input("s", DType::Int64, {1});
  b.node("ConstantOfShape", {"s"}, {"y"}, "cos");
  b.output("y");
  SessionOptions o;
  o.max_tensor_elements = 1000;
  Session s = b.session(o);
  EXPECT_EQ(s.run({make_i64({1}, {1000})}).at(0).numel(), 1000);
  expect_error([&] { s.run({make_i64({1}, {1001})}); }, {"cos", "1001", "limit of 1000"});
}

// ---- the other limits ----------------------------------------------------

TEST(HostileModel, RankLimitAppliesToInputsInitializersAndAttributeTensors) {
  SessionOptions o;
  o.max_rank = 3;
  {
    ModelBuilder b;
    b.input("x", DType::Float32, {1, 1, 1, 1});
    b.node("Relu", {"x"}, {"y"});
    b.output("y");
    expect_error([&] { b.session(o); }, {"'x'", "rank 4"});
  }
  {
    ModelBuilder b;
    b.initializer("w", Tensor(DType::Float32, {1, 1, 1, 1}));
    b.node("Relu", {"w"}, {"y"});
    b.output("y");
    expect_error([&] { b.session(o); }, {"'w'", "rank 4"});
  }
  {
    ModelBuilder b;
    attr(b.node("Constant", {}, {"c"}), "value", Tensor(DType::Float32, {1, 1, 1, 1}));
    b.node("Relu", {"c"}, {"y"});
    b.output("y");
    expect_error([&] { b.session(o); }, {"Constant", "rank 4"});
  }
}

TEST(HostileModel, RankLimitAppliesToInferredValues) {
  // Reshape to rank 5 from a constant shape: known at load, refused there.
  ModelBuilder b;
  b.input("x", DType::Float32, {2, 2});
  b.initializer("shape", make_i64({5}, {1, 1, 2, 1, 2}));
  b.node("Reshape", {"x", "shape"}, {"y"});
  b.output("y");
  SessionOptions o;
  o.max_rank = 4;
  expect_error([&] { b.session(o); }, {"'y'", "rank 5", "limit of 4"});
  o.max_rank = 5;
  EXPECT_NO_THROW(b.session(o));
}

TEST(HostileModel, ByteLimitCountsInitializersAttributeTensorsAndConstantLists) {
  SessionOptions o;
  o.max_initializer_bytes = 40;
  {
    ModelBuilder b;  // 24 + 24 bytes of initializers
    b.initializer("a", Tensor(DType::Float32, {6}));
    b.initializer("b", Tensor(DType::Float32, {6}));
    b.node("Add", {"a", "b"}, {"y"});
    b.output("y");
    expect_error([&] { b.session(o); }, {"initializer 'b'", "limit of 40 bytes"});
  }
  {
    ModelBuilder b;  // 24 bytes of initializer + a 24-byte Constant tensor
    b.initializer("a", Tensor(DType::Float32, {6}));
    attr(b.node("Constant", {}, {"c"}), "value", Tensor(DType::Float32, {6}));
    b.node("Add", {"a", "c"}, {"y"});
    b.output("y");
    expect_error([&] { b.session(o); }, {"Constant", "limit of 40 bytes"});
  }
  {
    ModelBuilder b;  // value_floats and value_ints count too
    attr(b.node("Constant", {}, {"c"}), "value_floats", std::vector<float>(11, 1.f));
    b.node("Relu", {"c"}, {"y"});
    b.output("y");
    expect_error([&] { b.session(o); }, {"Constant", "limit of 40 bytes"});
    o.max_initializer_bytes = 44;
    EXPECT_NO_THROW(b.session(o));
  }
  {
    ModelBuilder b;
    attr(b.node("Constant", {}, {"c"}), "value_ints", std::vector<int64_t>(100, 1));
    b.node("Identity", {"c"}, {"y"});
    b.output("y");
    SessionOptions e;
    e.max_tensor_elements = 99;
    expect_error([&] { b.session(e); }, {"Constant", "100 elements"});
  }
}

TEST(HostileModel, NodeLimit) {
  ModelBuilder b;
  b.input("x", DType::Float32, {1});
  std::string prev = "x";
  for (int i = 0; i < 10; ++i) {
    b.node("Relu", {prev}, {"r" + std::to_string(i)});
    prev = "r" + std::to_string(i);
  }
  b.output(prev);
  SessionOptions o;
  o.max_nodes = 9;
  expect_error([&] { b.session(o); }, {"10 nodes", "limit of 9"});
  o.max_nodes = 10;
  EXPECT_NO_THROW(b.session(o));
}

TEST(HostileModel, DeeplyNestedTypesAreRefusedByTheParser) {
  // sequence(sequence(…(tensor))) 200 deep: beyond the protobuf recursion
  // limit, so parsing fails instead of recursing without bound.
  for (int depth : {20, 200, 5000}) {
    ModelBuilder b;
    b.input("x", DType::Float32, {1});
    b.node("Relu", {"x"}, {"y"});
    b.output("y");
    auto* vi = b.proto().mutable_graph()->add_input();
    vi->set_name("deep");
    onnx::TypeProto* t = vi->mutable_type();
    for (int i = 0; i < depth; ++i) t = t->mutable_sequence_type()->mutable_elem_type();
    t->mutable_tensor_type()->set_elem_type(1);
    SCOPED_TRACE("depth " + std::to_string(depth));
    expect_error([&] { b.session(); }, {depth > 50 ? "not a valid ONNX model" : "'deep'"});
  }
}

// ---- wrong types in fields -------------------------------------------------

TEST(HostileModel, EveryTopLevelFieldWithTheWrongWireType) {
  // A model's top-level fields re-encoded with each other wire type. Where
  // the bytes still parse, protobuf keeps the field as an unknown one, so the
  // model lacks it: that must load or fail cleanly, and a model that lost its
  // graph or its opset_import must fail.
  ModelBuilder b;
  b.input("x", DType::Float32, {2});
  b.node("Relu", {"x"}, {"y"});
  b.output("y");
  const std::string good = b.bytes();
  // Walk the top-level fields; each starts with a varint key (field << 3 | wire type).
  size_t pos = 0;
  int fields = 0;
  while (pos < good.size()) {
    const size_t key_at = pos;
    uint64_t key = 0;
    for (int shift = 0;; shift += 7) {
      uint8_t c = static_cast<uint8_t>(good[pos++]);
      key |= uint64_t{c & 0x7fu} << shift;
      if (!(c & 0x80)) break;
    }
    ASSERT_LT(key, 128u) << "one-byte keys only in this small model";
    const int wire = static_cast<int>(key & 7);
    size_t end = pos;
    if (wire == 0) {
      while (static_cast<uint8_t>(good[end]) & 0x80) ++end;
      ++end;
    } else {
      ASSERT_EQ(wire, 2);
      uint64_t len = 0;
      for (int shift = 0;; shift += 7) {
        uint8_t c = static_cast<uint8_t>(good[end++]);
        len |= uint64_t{c & 0x7fu} << shift;
        if (!(c & 0x80)) break;
      }
      end += len;
    }
    for (int other : {0, 1, 2, 3, 4, 5}) {
      if (other == wire) continue;
      std::string bad = good;
      bad[key_at] = static_cast<char>((key & ~uint64_t{7}) | static_cast<uint64_t>(other));
      SCOPED_TRACE("field " + std::to_string(key >> 3) + " as wire type " + std::to_string(other));
      const uint64_t field = key >> 3;
      if (field == 7 || field == 8) {  // graph, opset_import
        expect_error([&] { Session::load_from_bytes(bad.data(), bad.size()); }, {"<model in memory>"});
      } else {
        try {
          Session::load_from_bytes(bad.data(), bad.size());
        } catch (const Error& e) {
          EXPECT_NE(std::string(e.what()).find("<model in memory>"), std::string::npos) << e.what();
        }
      }
    }
    pos = end;
    ++fields;
  }
  EXPECT_GE(fields, 4);  // ir_version, producer_name, graph, opset_import
}

TEST(HostileModel, AttributeOfTheWrongKind) {
  ModelBuilder b;
  b.input("x", DType::Float32, {1, 1, 4, 4});
  auto& n = b.node("MaxPool", {"x"}, {"y"}, "pool");
  attr(n, "kernel_shape", 2.0f);  // a float where ints are expected
  b.output("y");
  expect_error([&] { b.session(); }, {"pool", "kernel_shape"});
}

TEST(HostileModel, UnknownDtypeCodes) {
  ModelBuilder b;
  b.input("x", DType::Float32, {1});
  b.node("Relu", {"x"}, {"y"});
  b.output("y");
  b.proto().mutable_graph()->mutable_input(0)->mutable_type()->mutable_tensor_type()->set_elem_type(999);
  expect_error([&] { b.session(); }, {"'x'", "not supported"});

  ModelBuilder c;
  c.initializer("w", make_f32({1}, {1}));
  c.node("Relu", {"w"}, {"y"});
  c.output("y");
  c.proto().mutable_graph()->mutable_initializer(0)->set_data_type(-7);
  expect_error([&] { c.session(); }, {"'w'", "not supported"});
}

TEST(HostileModel, AttributeTensorRawDataShorterOrLonger) {
  for (int delta : {-1, 1}) {
    ModelBuilder b;
    auto& n = b.node("Constant", {}, {"c"}, "k");
    attr(n, "value", make_f32({2}, {1, 2}));
    auto* raw = n.mutable_attribute(0)->mutable_t()->mutable_raw_data();
    raw->resize(raw->size() + delta);
    b.node("Relu", {"c"}, {"y"});
    b.output("y");
    expect_error([&] { b.session(); }, {"k", "raw_data", "needs 8"});
  }
}

// ---- names that collide ----------------------------------------------------

TEST(HostileModel, NodeOutputCollidingWithAnInitializerOrInput) {
  {
    ModelBuilder b;
    b.input("x", DType::Float32, {2});
    b.initializer("w", make_f32({2}, {1, 2}));
    b.node("Relu", {"x"}, {"w"}, "overwrite");
    b.output("w");
    expect_error([&] { b.session(); }, {"'w'"});
  }
  {
    ModelBuilder b;
    b.input("x", DType::Float32, {2});
    b.node("Relu", {"x"}, {"x"}, "overwrite");
    b.output("x");
    expect_error([&] { b.session(); }, {"'x'"});
  }
}

TEST(HostileModel, NodeTwiceTheSameOutputName) {
  ModelBuilder b;
  b.input("x", DType::Float32, {2});
  b.node("Split", {"x"}, {"a", "a"}, "split");
  b.output("a");
  expect_error([&] { b.session(); }, {"'a'"});
}

// ---- external data that tries to leave the model's folder -----------------

// A folder outside the model's, holding a file the model must not read.
struct Outside {
  TempDir dir{"kiln-outside"};
  Outside() { write_file(dir.file("secret.bin"), std::string(8, 'x')); }
  std::string secret() const { return dir.file("secret.bin"); }
};

struct External {
  TempDir dir{"kiln-hostile"};
  ModelBuilder b;

  explicit External(const std::string& location) {
    b.output("w");
    auto* w = b.proto().mutable_graph()->add_initializer();
    w->set_name("w");
    w->set_data_type(static_cast<int32_t>(DType::Float32));
    w->add_dims(2);
    w->set_data_location(onnx::TensorProto::EXTERNAL);
    auto* kv = w->add_external_data();
    kv->set_key("location");
    kv->set_value(location);
  }
  std::string save() {
    std::string path = dir.file("model.onnx");
    b.save(path);
    return path;
  }
};

TEST(HostileExternalData, DotDotHiddenInTheMiddle) {
  Outside out;
  External e("sub/../../" + out.dir.path().filename().string() + "/secret.bin");
  std::filesystem::create_directory(e.dir.file("sub"));
  expect_error([&] { Session::load(e.save()); }, {"'w'", "'..'"});
}

TEST(HostileExternalData, AbsolutePathToARealFile) {
  Outside out;
  External e(out.secret());
  expect_error([&] { Session::load(e.save()); }, {"'w'", "absolute"});
}

TEST(HostileExternalData, SymlinkedFolderPointingOutside) {
  // The last component is a plain file, but a folder on the way is a link out.
  Outside out;
  External e("sub/secret.bin");
  std::filesystem::create_directory_symlink(out.dir.path(), e.dir.file("sub"));
  expect_error([&] { Session::load(e.save()); }, {"'w'", "outside the model folder"});
}

TEST(HostileExternalData, ChainOfSymlinksPointingOutside) {
  Outside out;
  External e("a.bin");
  std::filesystem::create_symlink(e.dir.file("b.bin"), e.dir.file("a.bin"));
  std::filesystem::create_symlink(out.secret(), e.dir.file("b.bin"));
  expect_error([&] { Session::load(e.save()); }, {"'w'", "outside the model folder"});
}

TEST(HostileExternalData, SymlinkLoopIsAnError) {
  External e("loop.bin");
  std::filesystem::create_symlink(e.dir.file("loop.bin"), e.dir.file("loop.bin"));
  expect_error([&] { Session::load(e.save()); }, {"'w'"});
}

TEST(HostileExternalData, FolderOrFifoInsteadOfAFile) {
  {
    External e("data");
    std::filesystem::create_directory(e.dir.file("data"));
    expect_error([&] { Session::load(e.save()); }, {"'w'", "not a regular file"});
  }
  {
    // Opening a FIFO for reading would wait for a writer forever.
    External e("fifo");
    ASSERT_EQ(::mkfifo(e.dir.file("fifo").c_str(), 0600), 0);
    expect_error([&] { Session::load(e.save()); }, {"'w'", "not a regular file"});
  }
}

TEST(HostileExternalData, TheModelFolderItselfMayBeASymlink) {
  // Only where the data ends up matters: a linked model folder is fine.
  External e("w.bin");
  float w[2] = {1.5f, -2.f};
  write_file(e.dir.file("w.bin"), std::string(reinterpret_cast<const char*>(w), sizeof w));
  e.save();
  Outside out;
  std::string link = out.dir.file("linked");
  std::filesystem::create_directory_symlink(e.dir.path(), link);
  Session s = Session::load(link + "/model.onnx");
  Tensor got = s.run(std::vector<Tensor>{}).at(0);
  EXPECT_EQ(got.data_as<float>()[0], 1.5f);
  EXPECT_EQ(got.data_as<float>()[1], -2.f);
}

TEST(HostileExternalData, OffsetPlusLengthOverflow) {
  External e("w.bin");
  write_file(e.dir.file("w.bin"), std::string(8, '\0'));
  auto* kv = e.b.proto().mutable_graph()->mutable_initializer(0)->add_external_data();
  kv->set_key("offset");
  kv->set_value("18446744073709551615");  // 2^64 - 1: offset + 8 wraps around
  expect_error([&] { Session::load(e.save()); }, {"'w'", "bytes"});
}

}  // namespace
}  // namespace kiln::test
