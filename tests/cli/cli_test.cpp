// model-runner as a user runs it: a separate process, its exit status, stdout
// and stderr. Models and data are written fresh into a temp folder per test.
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <random>

#include "cli/json_checker.h"
#include "kiln/tensor_io.h"
#include "support/model_builder.h"
#include "support/temp_dir.h"
#include "support/test_util.h"

extern char** environ;

namespace kiln::test {
namespace {

namespace fs = std::filesystem;

struct Result {
  int code = -1;  // exit status; 128 + signal when killed
  std::string out, err;
};

// Runs model-runner with `args`, stdout and stderr captured through files.
Result run_cli(const std::vector<std::string>& args, const TempDir& dir) {
  std::string out_path = dir.file(".stdout"), err_path = dir.file(".stderr");
  std::vector<std::string> argv_s{KILN_MODEL_RUNNER};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);

  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&fa, 2, err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  pid_t pid = 0;
  int rc = posix_spawn(&pid, argv[0], &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  Result r;
  if (rc != 0) {
    ADD_FAILURE() << "cannot start " << argv[0] << ": " << std::strerror(rc);
    return r;
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.out = read_file(out_path);
  r.err = read_file(err_path);
  return r;
}

::testing::AssertionResult contains(const std::string& text, const std::string& part) {
  if (text.find(part) != std::string::npos) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "'" << part << "' not found in:\n" << text;
}

std::string show(const Result& r) {
  return "exit " + std::to_string(r.code) + "\n--- stdout\n" + r.out + "--- stderr\n" + r.err;
}

// Writes a NumPy .npy (format 1.0) of a little-endian float32 array.
void save_npy_f32(const std::string& path, const Tensor& t) {
  std::string shape = "(";
  for (size_t i = 0; i < t.rank(); ++i) shape += std::to_string(t.shape()[i]) + (t.rank() == 1 || i + 1 < t.rank() ? "," : "");
  shape += ")";
  std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': " + shape + ", }";
  size_t total = 10 + header.size() + 1;
  header += std::string((64 - total % 64) % 64, ' ') + "\n";
  std::string bytes = "\x93NUMPY";
  bytes += '\x01';
  bytes += '\x00';
  bytes += static_cast<char>(header.size() & 0xFF);
  bytes += static_cast<char>(header.size() >> 8);
  bytes += header;
  bytes.append(static_cast<const char*>(t.data()), t.nbytes());
  write_file(path, bytes);
}

Tensor relu_of(const Tensor& x) {
  Tensor y = x.clone();
  for (int64_t i = 0; i < y.numel(); ++i) y.data_as<float>()[i] = std::max(0.0f, y.data_as<float>()[i]);
  return y;
}

class Cli : public ::testing::Test {
 protected:
  TempDir dir{"kiln-cli"};

  // x [2,3] → Relu → y.
  std::string relu_model() {
    ModelBuilder b;
    b.input("x", DType::Float32, {2, 3});
    b.node("Relu", {"x"}, {"y"}, "relu");
    b.output("y");
    return save(b, "relu.onnx");
  }
  // x [N,3] with a symbolic batch dim → Relu → Relu → y, and h = the middle value.
  std::string free_dim_model() {
    ModelBuilder b;
    b.input("x", DType::Float32, {-1, 3});
    b.node("Relu", {"x"}, {"h"});
    b.node("Relu", {"h"}, {"y"});
    b.output("y").output("h");
    return save(b, "free.onnx");
  }
  std::string save(const ModelBuilder& b, const std::string& name) {
    std::string path = dir.file(name);
    b.save(path);
    return path;
  }
  std::string save_bytes(const std::string& bytes, const std::string& name) {
    std::string path = dir.file(name);
    write_file(path, bytes);
    return path;
  }
  // An ONNX test-data folder: input_0.pb = x, output_0.pb = `expected`.
  std::string data_dir(const std::string& name, const Tensor& x, const Tensor& expected) {
    fs::create_directories(dir.path() / name);
    save_tensor_pb(dir.file(name + "/input_0.pb"), x, "x");
    save_tensor_pb(dir.file(name + "/output_0.pb"), expected, "y");
    return dir.file(name);
  }
  Result run(const std::vector<std::string>& args) { return run_cli(args, dir); }
};

// ---- usage ----

TEST_F(Cli, Help) {
  Result r = run({"--help"});
  EXPECT_EQ(r.code, 0) << show(r);
  EXPECT_TRUE(contains(r.out, "usage: model-runner"));
  for (const char* flag : {"--data", "--input", "--shape", "--threads", "--warmup", "--iterations", "--atol", "--rtol",
                           "--output-dir", "--json"})
    EXPECT_TRUE(contains(r.out, flag));
  EXPECT_EQ(run({"-h"}).code, 0);
}

TEST_F(Cli, UnknownFlag) {
  Result r = run({relu_model(), "--bogus"});
  EXPECT_EQ(r.code, 2) << show(r);
  EXPECT_TRUE(contains(r.err, "unknown option '--bogus'"));
}

TEST_F(Cli, MalformedValues) {
  std::string m = relu_model();
  for (std::vector<std::string> args : {std::vector<std::string>{m, "--threads", "abc"},
                                        {m, "--threads", "0"},
                                        {m, "--iterations", "-1"},
                                        {m, "--atol", "x"},
                                        {m, "--shape", "x"},
                                        {m, "--shape", "x=2xq"},
                                        {m, "--threads"},
                                        {m, "--json=1"},
                                        {m, m}}) {
    Result r = run(args);
    EXPECT_EQ(r.code, 2) << args.back() << "\n" << show(r);
    EXPECT_TRUE(contains(r.err, "model-runner:"));
  }
}

TEST_F(Cli, MissingModel) {
  Result none = run({});
  EXPECT_EQ(none.code, 2) << show(none);
  EXPECT_TRUE(contains(none.err, "no model given"));

  std::string path = dir.file("does-not-exist.onnx");
  Result missing = run({path});
  EXPECT_EQ(missing.code, 2) << show(missing);
  EXPECT_TRUE(contains(missing.err, path));
  EXPECT_TRUE(contains(missing.err, "cannot open"));
}

// ---- broken model files: exit 2 and a message naming file and problem ----

struct BadFile {
  std::string name;
  std::string bytes;
  std::vector<std::string> message;  // substrings of the expected error
};

std::vector<BadFile> bad_files(const std::string& good_model_bytes) {
  std::vector<BadFile> files;
  const std::string& g = good_model_bytes;
  for (size_t cut : {size_t{1}, size_t{5}, g.size() / 3, g.size() / 2, g.size() - 2})
    files.push_back({"truncated_" + std::to_string(cut) + ".onnx", g.substr(0, cut), {}});
  files.push_back({"empty.onnx", "", {"empty"}});
  std::mt19937 rng(7);
  std::string noise(4096, '\0');
  for (char& c : noise) c = static_cast<char>(rng());
  files.push_back({"random.onnx", noise, {}});

  auto model = [](const std::function<void(ModelBuilder&)>& f) {
    ModelBuilder b;
    f(b);
    return b.bytes();
  };
  files.push_back({"unknown_op.onnx", model([](ModelBuilder& b) {
                     b.input("x", DType::Float32, {2});
                     b.node("Frobnicate", {"x"}, {"y"}, "weird");
                     b.output("y");
                   }),
                   {"weird", "Frobnicate", "not supported"}});
  files.push_back({"cycle.onnx", model([](ModelBuilder& b) {
                     b.node("Relu", {"b"}, {"a"}, "n1");
                     b.node("Relu", {"a"}, {"b"}, "n2");
                     b.output("a");
                   }),
                   {"cycle"}});
  files.push_back({"dangling.onnx", model([](ModelBuilder& b) {
                     b.input("x", DType::Float32, {2});
                     b.node("Relu", {"nowhere"}, {"y"}, "needy");
                     b.output("y");
                   }),
                   {"needy", "'nowhere'", "not produced"}});
  auto raw_init = [&](const std::string& name, std::vector<int64_t> dims, size_t bytes,
                      std::vector<std::string> msg) {
    files.push_back({name, model([&](ModelBuilder& b) {
                       auto* p = b.proto().mutable_graph()->add_initializer();
                       p->set_name("w");
                       p->set_data_type(1);
                       for (int64_t d : dims) p->add_dims(d);
                       p->set_raw_data(std::string(bytes, '\0'));
                       b.node("Relu", {"w"}, {"y"});
                       b.output("y");
                     }),
                     msg});
  };
  raw_init("short_init.onnx", {2, 3}, 20, {"initializer 'w'", "raw_data holds 20 bytes", "needs 24"});
  raw_init("long_init.onnx", {2, 3}, 32, {"initializer 'w'", "raw_data holds 32 bytes", "needs 24"});
  raw_init("overflow_dims.onnx", {int64_t{1} << 40, int64_t{1} << 40}, 4, {"initializer 'w'", "overflows"});
  raw_init("negative_dims.onnx", {2, -3}, 0, {"initializer 'w'", "negative"});
  files.push_back({"external_outside.onnx", model([](ModelBuilder& b) {
                     auto* p = b.proto().mutable_graph()->add_initializer();
                     p->set_name("w");
                     p->set_data_type(1);
                     p->add_dims(1);
                     p->set_data_location(onnx::TensorProto::EXTERNAL);
                     auto* kv = p->add_external_data();
                     kv->set_key("location");
                     kv->set_value("../secret.bin");
                     b.node("Relu", {"w"}, {"y"});
                     b.output("y");
                   }),
                   {"initializer 'w'", "'..'"}});
  return files;
}

TEST_F(Cli, BadModelFiles) {
  relu_model();
  std::string good = read_file(dir.file("relu.onnx"));
  for (const BadFile& f : bad_files(good)) {
    SCOPED_TRACE(f.name);
    std::string path = save_bytes(f.bytes, f.name);
    Result r = run({path});
    EXPECT_EQ(r.code, 2) << show(r);
    EXPECT_TRUE(contains(r.err, "model-runner: error: "));
    EXPECT_TRUE(contains(r.err, path));
    for (const std::string& part : f.message) EXPECT_TRUE(contains(r.err, part));

    // The same failure with --json: one JSON object with ok false on stdout.
    Result j = run({path, "--json"});
    EXPECT_EQ(j.code, 2) << show(j);
    try {
      Json v = JsonReader::parse(j.out);
      EXPECT_FALSE(v.at("ok").boolean);
      EXPECT_TRUE(contains(v.at("error").string, path));
      EXPECT_EQ(v.at("model").string, path);
    } catch (const std::exception& e) {
      ADD_FAILURE() << e.what() << "\n" << show(j);
    }
  }
}

// ---- --data ----

TEST_F(Cli, DataWithMatchingOutputs) {
  std::string m = relu_model();
  Tensor x = make_f32({2, 3}, {-1, 2, -3, 4, -5, 6});
  std::string d = data_dir("ok", x, relu_of(x));
  Result r = run({m, "--data", d});
  EXPECT_EQ(r.code, 0) << show(r);
  EXPECT_TRUE(contains(r.out, "max_abs_err 0"));
  EXPECT_TRUE(contains(r.out, "OK"));
}

TEST_F(Cli, DataWithWrongExpectedOutput) {
  std::string m = relu_model();
  Tensor x = make_f32({2, 3}, {-1, 2, -3, 4, -5, 6});
  Tensor wrong = relu_of(x);
  wrong.data_as<float>()[3] += 1.0f;
  std::string d = data_dir("bad", x, wrong);
  Result r = run({m, "--data", d});
  EXPECT_EQ(r.code, 1) << show(r);
  EXPECT_TRUE(contains(r.out, "MISMATCH"));
  EXPECT_TRUE(contains(r.out, "FAILED"));

  // A good and a bad folder together: the run fails.
  std::string good = data_dir("good", x, relu_of(x));
  EXPECT_EQ(run({m, "--data", good, "--data", d}).code, 1);
  EXPECT_EQ(run({m, "--data", good, "--data", good}).code, 0);
}

TEST_F(Cli, DataWithWrongShapeOrDtype) {
  std::string m = relu_model();
  Tensor x = make_f32({2, 3}, {-1, 2, -3, 4, -5, 6});
  Result shape = run({m, "--data", data_dir("shape", x, make_f32({3, 2}, {0, 2, 0, 4, 0, 6}))});
  EXPECT_EQ(shape.code, 1) << show(shape);
  EXPECT_TRUE(contains(shape.out, "shape 2x3, expected 3x2"));

  Result input = run({m, "--data", data_dir("input", make_f32({3}, {1, 2, 3}), x)});
  EXPECT_EQ(input.code, 2) << show(input);
  EXPECT_TRUE(contains(input.err, "'x'"));
  EXPECT_TRUE(contains(input.err, "expected shape 2x3"));
}

TEST_F(Cli, DataFolderProblems) {
  std::string m = relu_model();
  Result missing = run({m, "--data", dir.file("nope")});
  EXPECT_EQ(missing.code, 2) << show(missing);
  EXPECT_TRUE(contains(missing.err, "not a folder"));

  fs::create_directories(dir.path() / "empty");
  Result empty = run({m, "--data", dir.file("empty")});
  EXPECT_EQ(empty.code, 2) << show(empty);
  EXPECT_TRUE(contains(empty.err, "input_0.pb"));

  fs::create_directories(dir.path() / "garbage");
  write_file(dir.file("garbage/input_0.pb"), "\xff\xff\xff\xff not a tensor");
  Result garbage = run({m, "--data", dir.file("garbage")});
  EXPECT_EQ(garbage.code, 2) << show(garbage);
  EXPECT_TRUE(contains(garbage.err, "input_0.pb"));
}

// ---- --input, --shape, --output-dir ----

TEST_F(Cli, InputFromPbAndNpy) {
  std::string m = relu_model();
  Tensor x = make_f32({2, 3}, {1, -2, 3, -4, 5, -6});
  save_tensor_pb(dir.file("x.pb"), x, "x");
  save_npy_f32(dir.file("x.npy"), x);
  for (const char* file : {"x.pb", "x.npy"}) {
    SCOPED_TRACE(file);
    std::string out = dir.file(std::string("out_") + file);
    Result r = run({m, "--input", std::string("x=") + dir.file(file), "--output-dir", out});
    ASSERT_EQ(r.code, 0) << show(r);
    std::string name;
    Tensor y = load_tensor_file(out + "/output_0.pb", &name);
    EXPECT_EQ(name, "y");
    EXPECT_EQ(compare_tensors(y, relu_of(x), 0, 0), "");
  }
}

TEST_F(Cli, InputProblems) {
  std::string m = relu_model();
  save_tensor_pb(dir.file("small.pb"), make_f32({3}, {1, 2, 3}));
  Result shape = run({m, "--input", "x=" + dir.file("small.pb")});
  EXPECT_EQ(shape.code, 2) << show(shape);
  EXPECT_TRUE(contains(shape.err, "input 0 'x': expected shape 2x3 but got 3"));

  save_tensor_pb(dir.file("ints.pb"), make_i64({2, 3}, {1, 2, 3, 4, 5, 6}));
  Result dtype = run({m, "--input", "x=" + dir.file("ints.pb")});
  EXPECT_EQ(dtype.code, 2) << show(dtype);
  EXPECT_TRUE(contains(dtype.err, "expected dtype float32 but got int64"));

  Result name = run({m, "--input", "q=" + dir.file("small.pb")});
  EXPECT_EQ(name.code, 2) << show(name);
  EXPECT_TRUE(contains(name.err, "no input named 'q'"));

  Result file = run({m, "--input", "x=" + dir.file("absent.npy")});
  EXPECT_EQ(file.code, 2) << show(file);
  EXPECT_TRUE(contains(file.err, "absent.npy"));

  // A .npy whose data is cut short, and a folder given as a file.
  save_npy_f32(dir.file("x.npy"), make_f32({2, 3}, {1, 2, 3, 4, 5, 6}));
  std::string npy = read_file(dir.file("x.npy"));
  write_file(dir.file("cut.npy"), npy.substr(0, npy.size() - 4));
  Result cut = run({m, "--input", "x=" + dir.file("cut.npy")});
  EXPECT_EQ(cut.code, 2) << show(cut);
  EXPECT_TRUE(contains(cut.err, "cut.npy"));
  EXPECT_TRUE(contains(cut.err, "20 bytes"));
  Result folder = run({m, "--input", "x=" + dir.path().string()});
  EXPECT_EQ(folder.code, 2) << show(folder);
  EXPECT_TRUE(contains(folder.err, "is a directory"));
}

TEST_F(Cli, ShapeForAFreeDim) {
  std::string m = free_dim_model();
  std::string out = dir.file("out");
  Result r = run({m, "--shape", "x=5x3", "--output-dir", out, "--seed", "3"});
  ASSERT_EQ(r.code, 0) << show(r);
  Tensor y = load_tensor_file(out + "/output_0.pb");
  EXPECT_EQ(y.shape(), (std::vector<int64_t>{5, 3}));
  for (int64_t i = 0; i < y.numel(); ++i) EXPECT_GE(y.data_as<float>()[i], 0.0f);

  // Without --shape the free dim is 1, and the note names it.
  Result d = run({m, "--output-dir", dir.file("out1")});
  ASSERT_EQ(d.code, 0) << show(d);
  EXPECT_TRUE(contains(d.out, "'N0'"));
  EXPECT_EQ(load_tensor_file(dir.file("out1/output_0.pb")).shape(), (std::vector<int64_t>{1, 3}));

  // A shape that contradicts a fixed dim, or names no input, is an error.
  Result bad = run({m, "--shape", "x=5x4"});
  EXPECT_EQ(bad.code, 2) << show(bad);
  EXPECT_TRUE(contains(bad.err, "expected shape ?x3"));
  Result unknown = run({m, "--shape", "q=5x3"});
  EXPECT_EQ(unknown.code, 2) << show(unknown);
  EXPECT_TRUE(contains(unknown.err, "no input named 'q'"));
}

TEST_F(Cli, SeedMakesRandomInputsRepeatable) {
  std::string m = free_dim_model();
  ASSERT_EQ(run({m, "--seed", "11", "--output-dir", dir.file("a")}).code, 0);
  ASSERT_EQ(run({m, "--seed", "11", "--output-dir", dir.file("b")}).code, 0);
  ASSERT_EQ(run({m, "--seed", "12", "--output-dir", dir.file("c")}).code, 0);
  EXPECT_EQ(read_file(dir.file("a/output_1.pb")), read_file(dir.file("b/output_1.pb")));
  EXPECT_NE(read_file(dir.file("a/output_1.pb")), read_file(dir.file("c/output_1.pb")));
}

TEST_F(Cli, OutputDirReloadsEqual) {
  std::string m = free_dim_model();
  Tensor x1 = make_f32({2, 3}, {-1, 2, -3, 4, -5, 6});
  Tensor x2 = make_f32({1, 3}, {7, -8, 9});
  std::string d1 = data_dir("d1", x1, relu_of(x1));
  std::string d2 = data_dir("d2", x2, relu_of(x2));
  std::string out = dir.file("results");
  Result r = run({m, "--data", d1, "--data", d2, "--output-dir", out});
  ASSERT_EQ(r.code, 0) << show(r);
  // One folder per data set, one file per output, named after the output.
  Session s = Session::load(m);
  for (auto [sub, x] : {std::pair{"data_0", x1}, std::pair{"data_1", x2}}) {
    auto want = s.run({x});
    for (size_t k = 0; k < want.size(); ++k) {
      std::string name;
      Tensor got = load_tensor_file(out + "/" + sub + "/output_" + std::to_string(k) + ".pb", &name);
      EXPECT_EQ(name, s.outputs()[k].name);
      EXPECT_EQ(compare_tensors(got, want[k], 0, 0), "") << sub << " output " << k;
    }
  }
  // And they serve as expected outputs in turn.
  EXPECT_EQ(run({m, "--data", d1, "--output-dir", dir.file("again")}).code, 0);
}

// ---- --threads, --warmup, --iterations ----

TEST_F(Cli, Threads) {
  std::string m = relu_model();
  Result r = run({m, "--threads", "3"});
  EXPECT_EQ(r.code, 0) << show(r);
  EXPECT_TRUE(contains(r.out, "3 threads"));
  Result j = run({m, "--threads", "5", "--json"});
  ASSERT_EQ(j.code, 0) << show(j);
  EXPECT_EQ(JsonReader::parse(j.out).at("threads").number, 5);
}

// --profile: a Chrome trace with one complete event per node per timed run,
// nested in its run's event, and the per-op-type table on stderr.
TEST_F(Cli, ProfileWritesATraceAndATable) {
  std::string m = relu_model();
  std::string trace = dir.file("trace.json");
  Result r = run({m, "--iterations", "3", "--warmup", "0", "--profile", trace, "--json"});
  ASSERT_EQ(r.code, 0) << show(r);
  EXPECT_TRUE(contains(r.err, "op type")) << r.err;
  EXPECT_TRUE(contains(r.err, "Relu")) << r.err;
  EXPECT_EQ(JsonReader::parse(r.out).at("iterations").number, 3);  // profiled runs are the timed runs
  Json t = JsonReader::parse(read_file(trace));
  const Json& events = t.at("traceEvents");
  int runs = 0, nodes = 0;
  double run_start = 0, run_end = 0;
  for (const Json& e : events.array) {
    if (e.at("ph").string != "X") continue;
    double ts = e.at("ts").number, dur = e.at("dur").number;
    if (e.at("cat").string == "run") {
      ++runs;
      run_start = ts;
      run_end = ts + dur;
      continue;
    }
    ++nodes;
    EXPECT_EQ(e.at("name").string, "relu");
    EXPECT_EQ(e.at("cat").string, "Relu");
    const Json& args = e.at("args");
    EXPECT_EQ(args.at("op").string, "Relu");
    EXPECT_FALSE(args.at("kernel").string.empty());
    EXPECT_EQ(args.at("input_shapes").array.at(0).array.size(), 2u);
    EXPECT_EQ(args.at("output_shapes").array.at(0).array.at(1).number, 3);
    EXPECT_GE(ts, run_start);
    EXPECT_LE(ts + dur, run_end + 1e-3);
  }
  EXPECT_EQ(runs, 3);
  EXPECT_EQ(nodes, 3);

  Result one = run({m, "--profile", trace});  // no --iterations: one profiled run
  ASSERT_EQ(one.code, 0) << show(one);
  EXPECT_TRUE(contains(one.err, "profile over 1 run")) << one.err;
  Result bad = run({m, "--profile", dir.file("no/such/dir/trace.json")});
  EXPECT_EQ(bad.code, 2) << show(bad);
  EXPECT_TRUE(contains(bad.err, "--profile")) << show(bad);
}

TEST_F(Cli, WarmupAndIterations) {
  std::string m = relu_model();
  Result r = run({m, "--warmup", "2", "--iterations", "7"});
  ASSERT_EQ(r.code, 0) << show(r);
  EXPECT_TRUE(contains(r.out, "latency over 7 runs"));
  for (const char* field : {"min", "median", "mean", "p90", "throughput"}) EXPECT_TRUE(contains(r.out, field));

  Result j = run({m, "--warmup", "0", "--iterations", "5", "--json"});
  ASSERT_EQ(j.code, 0) << show(j);
  Json v = JsonReader::parse(j.out);
  EXPECT_EQ(v.at("iterations").number, 5);
  const Json& lat = v.at("latency_ms");
  for (const char* f : {"min", "median", "mean", "p90"}) {
    ASSERT_EQ(lat.at(f).kind, Json::Kind::Number) << f;
    EXPECT_GE(lat.at(f).number, 0) << f;
  }
  EXPECT_LE(lat.at("min").number, lat.at("median").number);
  EXPECT_LE(lat.at("median").number, lat.at("p90").number);
  EXPECT_LE(lat.at("min").number, lat.at("mean").number);

  // No timing without --iterations.
  Result none = run({m, "--json"});
  ASSERT_EQ(none.code, 0) << show(none);
  EXPECT_FALSE(JsonReader::parse(none.out).has("latency_ms"));
}

// ---- --atol / --rtol ----

TEST_F(Cli, ToleranceFlags) {
  std::string m = relu_model();
  Tensor x = make_f32({2, 3}, {-1, 1, -3, 4, -5, 6});
  Tensor off = relu_of(x);
  off.data_as<float>()[1] = 1.01f;  // true value 1: |diff| = 0.01, |want| = 1.01
  std::string d = data_dir("off", x, off);
  EXPECT_EQ(run({m, "--data", d}).code, 1);                                   // defaults 1e-4 + 1e-3·|want|
  EXPECT_EQ(run({m, "--data", d, "--atol", "0.02"}).code, 0);                 // atol covers it
  EXPECT_EQ(run({m, "--data", d, "--atol", "0", "--rtol", "0.02"}).code, 0);  // rtol covers it
  EXPECT_EQ(run({m, "--data", d, "--atol", "0.005", "--rtol", "0.004"}).code, 1);  // 0.005 + 0.00404 < 0.01
  EXPECT_EQ(run({m, "--data", d, "--atol", "0.005", "--rtol", "0.005"}).code, 0);  // 0.005 + 0.00505 > 0.01

  Result j = run({m, "--data", d, "--json"});
  ASSERT_EQ(j.code, 1) << show(j);
  Json v = JsonReader::parse(j.out);
  EXPECT_FALSE(v.at("ok").boolean);
  const Json& o = v.at("outputs").array.at(0);
  EXPECT_FALSE(o.at("ok").boolean);
  EXPECT_NEAR(o.at("max_abs_err").number, 0.01, 1e-6);
  EXPECT_NEAR(o.at("max_rel_err").number, 0.01 / 1.01, 1e-6);
}

// ---- --json ----

void check_contract(const Json& v, const std::string& model, int threads, bool ok, bool timed) {
  ASSERT_EQ(v.kind, Json::Kind::Object);
  EXPECT_EQ(v.at("model").string, model);
  EXPECT_EQ(v.at("threads").number, threads);
  ASSERT_EQ(v.at("ok").kind, Json::Kind::Bool);
  EXPECT_EQ(v.at("ok").boolean, ok);
  ASSERT_EQ(v.at("outputs").kind, Json::Kind::Array);
  ASSERT_FALSE(v.at("outputs").array.empty());
  for (const Json& o : v.at("outputs").array) {
    ASSERT_EQ(o.at("name").kind, Json::Kind::String);
    ASSERT_EQ(o.at("shape").kind, Json::Kind::Array);
    for (const Json& d : o.at("shape").array) EXPECT_EQ(d.kind, Json::Kind::Number);
    for (const char* f : {"max_abs_err", "max_rel_err"}) {
      auto k = o.at(f).kind;
      EXPECT_TRUE(k == Json::Kind::Number || k == Json::Kind::Null) << f;
    }
    EXPECT_EQ(o.at("ok").kind, Json::Kind::Bool);
  }
  EXPECT_EQ(v.has("latency_ms"), timed);
  if (timed) {
    for (const char* f : {"min", "median", "mean", "p90"}) EXPECT_EQ(v.at("latency_ms").at(f).kind, Json::Kind::Number);
  }
}

TEST_F(Cli, JsonContract) {
  std::string m = free_dim_model();
  Tensor x = make_f32({2, 3}, {-1, 2, -3, 4, -5, 6});
  std::string d = data_dir("d", x, relu_of(x));
  Result r = run({m, "--data", d, "--threads", "2", "--iterations", "3", "--json"});
  ASSERT_EQ(r.code, 0) << show(r);
  Json v;
  ASSERT_NO_THROW(v = JsonReader::parse(r.out)) << show(r);
  check_contract(v, m, 2, true, true);
  const auto& outs = v.at("outputs").array;
  ASSERT_EQ(outs.size(), 2u);
  EXPECT_EQ(outs[0].at("name").string, "y");
  EXPECT_EQ(outs[1].at("name").string, "h");
  EXPECT_EQ(outs[0].at("shape").array.size(), 2u);
  EXPECT_EQ(outs[0].at("shape").array[0].number, 2);
  EXPECT_EQ(outs[0].at("shape").array[1].number, 3);
  EXPECT_EQ(outs[0].at("max_abs_err").number, 0);
  EXPECT_TRUE(outs[0].at("ok").boolean);
  // output_1 was not given: nothing compared.
  EXPECT_EQ(outs[1].at("max_abs_err").kind, Json::Kind::Null);
  // Human-readable text goes to stderr in JSON mode.
  EXPECT_TRUE(contains(r.err, "OK"));

  Tensor wrong = relu_of(x);
  wrong.data_as<float>()[0] = 5;
  Result bad = run({m, "--data", data_dir("w", x, wrong), "--threads", "1", "--json"});
  ASSERT_EQ(bad.code, 1) << show(bad);
  check_contract(JsonReader::parse(bad.out), m, 1, false, false);
}

TEST_F(Cli, JsonOnErrors) {
  std::string m = relu_model();
  // A usage error, a missing model and an input problem each still give one
  // JSON object on stdout.
  for (std::vector<std::string> args : {std::vector<std::string>{m, "--bogus", "--json"},
                                        {"--json", dir.file("nope.onnx")},
                                        {m, "--json", "--input", "q=" + dir.file("x.pb")},
                                        {m, "--json", "--data", dir.file("missing")}}) {
    Result r = run(args);
    EXPECT_EQ(r.code, 2) << show(r);
    try {
      Json v = JsonReader::parse(r.out);
      EXPECT_EQ(v.at("ok").kind, Json::Kind::Bool);
      EXPECT_FALSE(v.at("ok").boolean);
      EXPECT_FALSE(v.at("error").string.empty());
    } catch (const std::exception& e) {
      ADD_FAILURE() << e.what() << "\n" << show(r);
    }
    EXPECT_TRUE(contains(r.err, "model-runner:"));
  }
}

TEST_F(Cli, JsonStaysValidForOddNames) {
  // Names with quotes, backslashes, control characters and bytes that are not
  // UTF-8 must still give valid JSON.
  ModelBuilder b;
  std::string name = std::string("a\"b\\c\td\x01") + "\xff\xfe" + "\xc3\xa9";
  b.input("x", DType::Float32, {2});
  b.node("Relu", {"x"}, {name});
  b.output(name);
  std::string m = save(b, "odd \"name\".onnx");
  Result r = run({m, "--json"});
  ASSERT_EQ(r.code, 0) << show(r);
  Json v;
  ASSERT_NO_THROW(v = JsonReader::parse(r.out)) << show(r);
  EXPECT_EQ(v.at("model").string, m);

  ModelBuilder e;
  e.input("x", DType::Float32, {2});
  e.node("Bad\xff" "Op", {"x"}, {"y"});
  e.output("y");
  Result er = run({save(e, "bad_op.onnx"), "--json"});
  EXPECT_EQ(er.code, 2) << show(er);
  EXPECT_NO_THROW(JsonReader::parse(er.out)) << show(er);
}

// ---- graph optimization flags ----

// x [1,3,6,6] → Conv → BatchNormalization → Relu → y, with non-trivial BN statistics.
std::string conv_bn_relu_model(const TempDir& dir, bool training_bn = false) {
  ModelBuilder b(15);
  b.input("x", DType::Float32, {1, 3, 6, 6});
  b.initializer("w", random_f32({4, 3, 3, 3}, 1));
  b.node("Conv", {"x", "w"}, {"c"}, "conv");
  b.initializer("gamma", random_f32({4}, 2, 0.5f, 1.5f));
  b.initializer("beta", random_f32({4}, 3));
  b.initializer("mean", random_f32({4}, 4));
  b.initializer("var", random_f32({4}, 5, 0.5f, 1.5f));
  auto& bn = b.node("BatchNormalization", {"c", "gamma", "beta", "mean", "var"}, {"n"}, "bn");
  if (training_bn) attr(bn, "training_mode", int64_t{1});
  b.node("Relu", {"n"}, {"y"}, "relu");
  b.output("y");
  std::string path = dir.file(training_bn ? "conv_bn_train.onnx" : "conv_bn_relu.onnx");
  b.save(path);
  return path;
}

TEST_F(Cli, ExplainListsEveryDecision) {
  Result r = run({conv_bn_relu_model(dir), "--explain"});
  ASSERT_EQ(r.code, 0) << show(r);
  EXPECT_TRUE(contains(r.out, "BatchNormalization 'bn': folded into Conv 'conv'"));
  EXPECT_TRUE(contains(r.out, "Relu 'relu': fused into Conv 'conv'"));
  EXPECT_TRUE(contains(r.out, "BatchNormalization 1 in the model, 1 folded"));
}

TEST_F(Cli, FusionJsonFields) {
  Result r = run({conv_bn_relu_model(dir), "--json"});
  ASSERT_EQ(r.code, 0) << show(r);
  Json v = JsonReader::parse(r.out);
  const Json& f = v.at("fusion");
  EXPECT_TRUE(f.at("enabled").boolean);
  EXPECT_EQ(f.at("batchnorm_nodes").number, 1);
  EXPECT_EQ(f.at("batchnorm_folded").number, 1);
  EXPECT_EQ(f.at("fused_activations").number, 1);
  EXPECT_EQ(f.at("fused_adds").number, 0);
  ASSERT_EQ(f.at("decisions").array.size(), 2u);
  EXPECT_EQ(f.at("decisions").array[0].at("node").string, "bn");
  EXPECT_EQ(f.at("decisions").array[0].at("action").string, "folded into Conv 'conv'");
}

TEST_F(Cli, FusionOffRunsTheGraphAsWritten) {
  for (auto flags : {std::vector<std::string>{"--no-fuse"}, std::vector<std::string>{"--fusion", "off"}}) {
    std::vector<std::string> args = {conv_bn_relu_model(dir), "--json"};
    args.insert(args.end(), flags.begin(), flags.end());
    Result r = run(args);
    ASSERT_EQ(r.code, 0) << show(r);
    Json v = JsonReader::parse(r.out);
    const Json& f = v.at("fusion");
    EXPECT_FALSE(f.at("enabled").boolean);
    EXPECT_EQ(f.at("batchnorm_nodes").number, 1);
    EXPECT_EQ(f.at("batchnorm_folded").number, 0);
  }
  EXPECT_EQ(run({conv_bn_relu_model(dir), "--fusion", "maybe"}).code, 2);
}

TEST_F(Cli, BatchNormModes) {
  std::string m = conv_bn_relu_model(dir, true);
  Result kept = run({m, "--json"});
  ASSERT_EQ(kept.code, 0) << show(kept);
  EXPECT_EQ(JsonReader::parse(kept.out).at("fusion").at("batchnorm_folded").number, 0);
  Result forced = run({m, "--bn-mode", "inference", "--json"});
  ASSERT_EQ(forced.code, 0) << show(forced);
  EXPECT_TRUE(contains(forced.err, "warning: BatchNormalization 'bn' is in training mode"));
  EXPECT_EQ(JsonReader::parse(forced.out).at("fusion").at("batchnorm_folded").number, 1);
  Result training = run({conv_bn_relu_model(dir), "--bn-mode", "training", "--json"});
  ASSERT_EQ(training.code, 0) << show(training);
  EXPECT_EQ(JsonReader::parse(training.out).at("fusion").at("batchnorm_folded").number, 0);
  EXPECT_EQ(run({m, "--bn-mode", "sometimes"}).code, 2);
}

TEST_F(Cli, CompareFusion) {
  Result r = run({conv_bn_relu_model(dir), "--compare-fusion", "--iterations", "3", "--json"});
  ASSERT_EQ(r.code, 0) << show(r);
  Json v = JsonReader::parse(r.out);
  const Json& c = v.at("compare_fusion");
  EXPECT_LT(c.at("max_abs_diff").number, 1e-5);
  EXPECT_GT(c.at("fused_median_ms").number, 0);
  EXPECT_GT(c.at("unfused_median_ms").number, 0);
  EXPECT_GT(c.at("speedup").number, 0);
  EXPECT_TRUE(contains(r.err, "speedup"));
}

TEST_F(Cli, SaveOptimizedReloadsWithSameOutputs) {
  std::string m = conv_bn_relu_model(dir);
  std::string saved = dir.file("optimized.onnx");
  Result r = run({m, "--save-optimized", saved, "--output-dir", dir.file("orig")});
  ASSERT_EQ(r.code, 0) << show(r);
  // The saved model holds standard ops only: Conv (folded weights) and Relu.
  onnx::ModelProto proto;
  std::string bytes = read_file(saved);
  ASSERT_TRUE(proto.ParseFromString(bytes));
  std::vector<std::string> ops;
  for (const auto& n : proto.graph().node()) {
    ops.push_back(n.op_type());
    EXPECT_EQ(n.domain(), "");
  }
  EXPECT_EQ(ops, (std::vector<std::string>{"Conv", "Relu"}));
  // Same random input (same seed) through the saved model, unfused, must match.
  fs::create_directories(dir.path() / "check");
  fs::copy_file(dir.file("orig/output_0.pb"), dir.file("check/output_0.pb"));
  Result again = run({saved, "--no-fuse", "--output-dir", dir.file("again")});
  ASSERT_EQ(again.code, 0) << show(again);
  Tensor a = load_tensor_file(dir.file("orig/output_0.pb")), b = load_tensor_file(dir.file("again/output_0.pb"));
  EXPECT_EQ(compare_tensors(b, a, 1e-6, 1e-5), "");
}

TEST_F(Cli, SaveOptimizedWritesAnInputMapAsBatchNormalization) {
  // BN → Relu → 1×1 Conv: the BN folds into the Conv's input; the saved
  // model spells that out as a BatchNormalization (ε 0), a Relu and the Conv.
  ModelBuilder b(15);
  b.input("x", DType::Float32, {1, 5, 4, 4});
  b.initializer("gamma", random_f32({5}, 2, 0.5f, 1.5f));
  b.initializer("beta", random_f32({5}, 3));
  b.initializer("mean", random_f32({5}, 4));
  b.initializer("var", random_f32({5}, 5, 0.5f, 1.5f));
  b.node("BatchNormalization", {"x", "gamma", "beta", "mean", "var"}, {"n"}, "bn");
  b.node("Relu", {"n"}, {"r"}, "relu");
  b.initializer("w", random_f32({6, 5, 1, 1}, 1));
  b.node("Conv", {"r", "w"}, {"y"}, "conv");
  b.output("y");
  const std::string m = dir.file("bn_relu_conv.onnx"), saved = dir.file("bn_relu_conv.optimized.onnx");
  b.save(m);
  Result r = run({m, "--save-optimized", saved, "--output-dir", dir.file("map_orig"), "--explain"});
  ASSERT_EQ(r.code, 0) << show(r);
  EXPECT_TRUE(contains(r.out, "BatchNormalization 'bn': folded into the input of Conv 'conv'")) << r.out;
  onnx::ModelProto proto;
  ASSERT_TRUE(proto.ParseFromString(read_file(saved)));
  std::vector<std::string> ops;
  for (const auto& n : proto.graph().node()) ops.push_back(n.op_type());
  EXPECT_EQ(ops, (std::vector<std::string>{"BatchNormalization", "Relu", "Conv"}));
  Result again = run({saved, "--no-fuse", "--output-dir", dir.file("map_again")});
  ASSERT_EQ(again.code, 0) << show(again);
  Tensor x = load_tensor_file(dir.file("map_orig/output_0.pb")), y = load_tensor_file(dir.file("map_again/output_0.pb"));
  EXPECT_EQ(compare_tensors(y, x, 1e-6, 1e-5), "");
}

TEST(JsonChecker, RefusesInvalidJson) {
  for (const char* bad : {"", "{", "{\"a\":}", "{\"a\":1,}", "[1 2]", "{\"a\":1}x", "\"\x01\"", "01", "1.", "nul",
                          "{\"a\":1,\"a\":2}", "\"\xff\""}) {
    EXPECT_THROW(JsonReader::parse(bad), std::runtime_error) << bad;
  }
  Json v = JsonReader::parse(" {\"a\": [1, -2.5e3, true, null, \"x\\n\\u00e9\"], \"b\": {}} ");
  EXPECT_EQ(v.at("a").array.size(), 5u);
  EXPECT_EQ(v.at("a").array[1].number, -2500);
}

}  // namespace
}  // namespace kiln::test
