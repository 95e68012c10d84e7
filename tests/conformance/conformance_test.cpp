// ONNX backend node tests: every case whose ops kiln registers becomes one
// GoogleTest test (and, through gtest_discover_tests, one CTest test).
//
// A case listed in a file of expectations/ is expected to fail for the reason given
// there (an unsupported dtype, say); it is reported as skipped with that
// reason, and fails loudly if it starts passing, so the list stays honest.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include <onnx/onnx_pb.h>

#include "kiln/kiln.h"
#include "kiln/tensor_io.h"
#include "ops/op.h"
#include "support/test_util.h"

namespace fs = std::filesystem;

namespace {

// ONNX's backend test defaults.
constexpr double kRtol = 1e-3;
constexpr double kAtol = 1e-7;

std::map<std::string, std::string> read_expectations() {
  std::map<std::string, std::string> m;
  for (const auto& e : fs::directory_iterator(KILN_CONFORMANCE_EXPECTATIONS)) {
    if (e.path().extension() != ".txt") continue;
    std::ifstream f(e.path());
    std::string line;
    while (std::getline(f, line)) {
      if (line.empty() || line[0] == '#') continue;
      auto sp = line.find_first_of(" \t");
      std::string name = line.substr(0, sp);
      std::string reason = sp == std::string::npos ? "" : line.substr(line.find_first_not_of(" \t", sp));
      m[name] = reason;
    }
  }
  return m;
}

// The op types of a case's model, or an empty optional if it cannot be parsed.
bool case_ops(const fs::path& model, std::set<std::pair<std::string, std::string>>& ops) {
  std::ifstream f(model, std::ios::binary);
  onnx::ModelProto proto;
  if (!f || !proto.ParseFromIstream(&f)) return false;
  for (const auto& n : proto.graph().node()) {
    std::string d = n.domain() == "ai.onnx" ? "" : n.domain();
    if (n.op_type() == "Constant" && d.empty()) continue;
    ops.insert({d, n.op_type()});
  }
  return true;
}

bool kiln_registers(const std::set<std::pair<std::string, std::string>>& ops) {
  const auto& all = kiln::ops::OpRegistry::instance().all();
  for (const auto& [domain, type] : ops) {
    bool found = false;
    for (const auto& s : all) found = found || (s.domain == domain && s.op_type == type);
    if (!found) return false;
  }
  return true;
}

// Runs one case; returns "" on success, else what went wrong.
std::string run_case(const fs::path& dir) {
  try {
    kiln::SessionOptions opt;
    opt.threads = 1;
    kiln::Session session = kiln::Session::load((dir / "model.onnx").string(), opt);
    std::vector<fs::path> sets;
    for (const auto& e : fs::directory_iterator(dir))
      if (e.is_directory() && e.path().filename().string().rfind("test_data_set_", 0) == 0) sets.push_back(e.path());
    std::sort(sets.begin(), sets.end());
    if (sets.empty()) return "no test_data_set_* folder";
    for (const fs::path& set : sets) {
      std::vector<kiln::Tensor> inputs;
      for (size_t k = 0; k < session.inputs().size(); ++k) {
        fs::path p = set / ("input_" + std::to_string(k) + ".pb");
        if (!fs::exists(p)) return set.filename().string() + ": missing " + p.filename().string();
        inputs.push_back(kiln::load_tensor_file(p.string()));
      }
      std::vector<kiln::Tensor> outputs = session.run(inputs);
      for (size_t k = 0; k < outputs.size(); ++k) {
        fs::path p = set / ("output_" + std::to_string(k) + ".pb");
        if (!fs::exists(p)) continue;
        kiln::Tensor want = kiln::load_tensor_file(p.string());
        std::string diff = kiln::test::compare_tensors(outputs[k], want, kAtol, kRtol);
        if (!diff.empty())
          return set.filename().string() + " output " + std::to_string(k) + " '" + session.outputs()[k].name + "': " + diff;
      }
    }
    return "";
  } catch (const std::exception& e) {
    return std::string("error: ") + e.what();
  }
}

class CaseTest : public testing::Test {
 public:
  CaseTest(fs::path dir, std::string expected_failure) : dir_(std::move(dir)), expected_(std::move(expected_failure)) {}
  void TestBody() override {
    std::string result = run_case(dir_);
    if (expected_.empty()) {
      EXPECT_EQ(result, "") << dir_;
      return;
    }
    if (result.empty())
      FAIL() << dir_.filename() << " passes but tests/conformance/expectations/ lists it as failing (" << expected_
             << "); remove that line";
    GTEST_SKIP() << "expected failure: " << expected_ << " — " << result;
  }

 private:
  fs::path dir_;
  std::string expected_;
};

class MissingData : public testing::Test {
 public:
  void TestBody() override {
    GTEST_SKIP() << "ONNX node tests not found: set KILN_ONNX_NODE_TESTS or the CMake variable of that name (default: "
                 << KILN_ONNX_NODE_TESTS << ")";
  }
};

}  // namespace

// CTest runs one case per process with --gtest_filter=OnnxNode.<case>; then
// only that folder needs a look instead of all of them.
std::string single_case_filter(int argc, char** argv) {
  const std::string prefix = "--gtest_filter=OnnxNode.";
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a.rfind(prefix, 0) == 0) {
      std::string name = a.substr(prefix.size());
      if (name.find_first_of("*?:-") == std::string::npos) return name;
    }
  }
  return "";
}

int main(int argc, char** argv) {
  std::string only = single_case_filter(argc, argv);
  testing::InitGoogleTest(&argc, argv);
  std::string root = kiln::test::onnx_node_tests_dir();
  if (root.empty()) {
    testing::RegisterTest("OnnxNode", "data_missing", nullptr, nullptr, __FILE__, __LINE__,
                          []() -> testing::Test* { return new MissingData; });
  } else {
    auto expectations = read_expectations();
    std::vector<fs::path> cases;
    if (!only.empty()) {
      if (fs::exists(fs::path(root) / only / "model.onnx")) cases.push_back(fs::path(root) / only);
    } else {
      for (const auto& e : fs::directory_iterator(root))
        if (e.is_directory() && fs::exists(e.path() / "model.onnx")) cases.push_back(e.path());
    }
    std::sort(cases.begin(), cases.end());
    for (const fs::path& dir : cases) {
      std::set<std::pair<std::string, std::string>> ops;
      if (!case_ops(dir / "model.onnx", ops) || !kiln_registers(ops)) continue;
      std::string name = dir.filename().string();
      auto it = expectations.find(name);
      std::string expected = it == expectations.end() ? "" : it->second;
      testing::RegisterTest("OnnxNode", name.c_str(), nullptr, nullptr, __FILE__, __LINE__,
                            [dir, expected]() -> testing::Test* { return new CaseTest(dir, expected); });
    }
  }
  return RUN_ALL_TESTS();
}
