// Real networks exported from PyTorch (tests/models/export_models.py, run by the build into
// <build>/models/): every exported folder becomes one test that runs each of its data sets
// through kiln and compares with PyTorch's outputs; every model exported both with its
// BatchNormalization nodes kept and folded by the exporter gets a test that the two agree.
// The small models bundled in the source tree (models/) are tested the same way.
//
// Tolerance. The expected outputs are PyTorch's forward pass in float64 over the float32
// weights, i.e. the exact result of the float32 model; the error measured is kiln's float32
// error alone. An error in a logit comes from rounding everywhere in the network, so it scales
// with the magnitude of the outputs as a whole, not with that one logit: the bound is
// |got - want| <= kScaleTol * max|want| per output tensor. Measured at export time
// (info.txt), PyTorch's own float32 pass is within 1e-7..1e-5 of max|want| on these models and
// onnxruntime's likewise (at most 1.1e-5, googlenet); kScaleTol = 1e-4 leaves a factor of ~10
// for a different summation order (a scalar reference engine accumulating sequentially), while
// any real mistake — a wrong BN statistic, a dropped bias, an off-by-one pad — moves the logits
// by far more (the exported BN statistics are deliberately far from identity).
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>

#include <cstring>
#include <thread>

#include "core/tensor_stats.h"
#include "kiln/kiln.h"
#include "kiln/tensor_io.h"
#include "runtime/executor.h"
#include "support/test_util.h"

namespace fs = std::filesystem;

namespace {

constexpr double kScaleTol = 1e-4;
// Outputs whose magnitude is below this are compared as if it were this (an all-zero
// output must still be matched to within kScaleTol * kMinScale).
constexpr double kMinScale = 1e-3;

std::string models_dir() {
  const char* env = std::getenv("KILN_MODELS_DIR");
  return env && *env ? env : KILN_MODELS_DIR;
}

double max_abs(const kiln::Tensor& t) {
  double m = 0;
  if (t.dtype() == kiln::DType::Float32)
    for (int64_t i = 0; i < t.numel(); ++i) m = std::max(m, static_cast<double>(std::fabs(t.data_as<float>()[i])));
  return m;
}

// "key rest-of-line" lines of the info.txt the export script writes beside each model.
std::map<std::string, std::string> read_info(const fs::path& dir) {
  std::map<std::string, std::string> info;
  std::ifstream f(dir / "info.txt");
  std::string line;
  while (std::getline(f, line)) {
    auto sp = line.find(' ');
    if (sp != std::string::npos) info[line.substr(0, sp)] = line.substr(sp + 1);
  }
  return info;
}

std::vector<fs::path> data_sets(const fs::path& dir) {
  std::vector<fs::path> sets;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.is_directory() && e.path().filename().string().rfind("test_data_set_", 0) == 0) sets.push_back(e.path());
  std::sort(sets.begin(), sets.end());
  return sets;
}

// Turns kiln's graph optimizations (BatchNormalization folding, fusion) off where the library
// has that option (SessionOptions::fusion); returns whether it could.
template <class Options>
bool disable_fusion(Options& options) {
  if constexpr (requires { options.fusion = false; }) {
    options.fusion = false;
    return true;
  } else {
    return false;
  }
}

bool can_disable_fusion() {
  kiln::SessionOptions o;
  return disable_fusion(o);
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Compares one output; reports the error (also as a test property, so it lands in the
// XML/JSON results) and fails past the tolerance.
void check_output(const std::string& what, const kiln::Tensor& got, const kiln::Tensor& want,
                  const std::string& property) {
  double scale = std::max(max_abs(want), kMinScale);
  double atol = kScaleTol * scale;
  double err = kiln::test::max_abs_diff(got, want);
  std::ostringstream line;
  line.precision(3);
  line << what << ": max abs err " << err << " = " << err / scale << " of max|want| " << scale << " (limit "
       << kScaleTol << ")";
  std::cout << "[   info   ] " << line.str() << std::endl;
  testing::Test::RecordProperty(property, std::to_string(err));
  std::string diff = kiln::test::compare_tensors(got, want, atol, 0.0);
  EXPECT_EQ(diff, "") << what;
}

// What BatchNormalization folding must achieve on an exported model: nothing
// folded in training mode; otherwise no BN left that follows a Conv or Gemm
// (BNs after other nodes — DenseNet's BN → ReLU → Conv — legitimately stay,
// and their decision must say where their input comes from).
void check_fusion_report(const kiln::FusionReport& r) {
  const std::string name = testing::UnitTest::GetInstance()->current_test_info()->name();
  bool training = name.find("_train") != std::string::npos;
  std::cout << "[   info   ] BatchNormalization: " << r.batchnorm_nodes << " in the model, " << r.batchnorm_folded
            << " folded; fused activations " << r.fused_activations << ", fused adds " << r.fused_adds << std::endl;
  for (const auto& d : r.decisions) {
    if (d.op != "BatchNormalization") continue;
    if (training) {
      EXPECT_EQ(d.action, "kept") << d.node;
      EXPECT_NE(d.reason.find("training mode"), std::string::npos) << d.node << ": " << d.reason;
    } else if (d.action.rfind("folded", 0) != 0) {
      EXPECT_EQ(d.reason.find("cannot fold into Conv"), std::string::npos) << d.node << ": " << d.reason;
      EXPECT_EQ(d.reason.find("cannot fold into Gemm"), std::string::npos) << d.node << ": " << d.reason;
    }
  }
  if (training) EXPECT_EQ(r.batchnorm_folded, 0);
  else if (name.find("densenet") == std::string::npos) EXPECT_EQ(r.batchnorm_folded, r.batchnorm_nodes);
}

// Runs every data set of one exported model folder, with kiln's default options or with its
// graph optimizations off (the BatchNormalization nodes then run as written).
class ModelTest : public testing::Test {
 public:
  ModelTest(fs::path dir, bool unfused) : dir_(std::move(dir)), unfused_(unfused) {}
  void TestBody() override {
    auto info = read_info(dir_);
    if (info.count("torch_f32_max_abs_err"))
      std::cout << "[   info   ] PyTorch float32 max abs err on this model: " << info["torch_f32_max_abs_err"]
                << std::endl;
    auto t0 = std::chrono::steady_clock::now();
    kiln::SessionOptions options;
    if (unfused_) {
      ASSERT_TRUE(disable_fusion(options));
    }
    kiln::Session session = kiln::Session::load((dir_ / "model.onnx").string(), options);
    std::cout << "[   info   ] loaded in " << seconds_since(t0) << " s" << std::endl;
    if (!unfused_) check_fusion_report(session.fusion_report());
    auto sets = data_sets(dir_);
    ASSERT_FALSE(sets.empty()) << dir_ << " has no test_data_set_* folder";
    for (const fs::path& set : sets) {
      std::vector<kiln::Tensor> inputs;
      for (size_t k = 0; k < session.inputs().size(); ++k)
        inputs.push_back(kiln::load_tensor_file((set / ("input_" + std::to_string(k) + ".pb")).string()));
      t0 = std::chrono::steady_clock::now();
      std::vector<kiln::Tensor> outputs = session.run(inputs);
      std::cout << "[   info   ] " << set.filename().string() << " (input " << kiln::shape_to_string(inputs[0].shape())
                << ") ran in " << seconds_since(t0) << " s" << std::endl;
      size_t compared = 0;
      for (size_t k = 0; k < outputs.size(); ++k) {
        fs::path p = set / ("output_" + std::to_string(k) + ".pb");
        if (!fs::exists(p)) continue;
        ++compared;
        std::string what = set.filename().string() + " output " + std::to_string(k) + " '" + session.outputs()[k].name + "'";
        check_output(what, outputs[k], kiln::load_tensor_file(p.string()),
                     "max_abs_err_" + set.filename().string() + "_" + std::to_string(k));
      }
      EXPECT_GT(compared, 0u) << set << " has no output_<k>.pb for any output";
    }
  }

 private:
  fs::path dir_;
  bool unfused_;
};

// The exporter-folded variant (BN folded into the convolutions) against the BN-kept one, on
// an input that is in neither's data sets: both are the same function, so kiln must give the
// same outputs up to float32 rounding of the folded weights. The BN-kept model runs with
// kiln's own folding off where that can be chosen, so that kiln's BatchNormalization op is what
// is compared with PyTorch's folding.
class FoldedVsKeptTest : public testing::Test {
 public:
  FoldedVsKeptTest(fs::path kept, fs::path folded) : kept_(std::move(kept)), folded_(std::move(folded)) {}
  void TestBody() override {
    kiln::SessionOptions kept_options;
    disable_fusion(kept_options);
    kiln::Session kept = kiln::Session::load((kept_ / "model.onnx").string(), kept_options);
    kiln::Session folded = kiln::Session::load((folded_ / "model.onnx").string());
    ASSERT_EQ(kept.inputs().size(), 1u);
    ASSERT_EQ(folded.inputs().size(), 1u);
    std::vector<int64_t> shape = kept.inputs()[0].shape;
    ASSERT_EQ(shape, folded.inputs()[0].shape) << "the two variants take different input shapes";
    for (int64_t d : shape) ASSERT_GT(d, 0) << "input shape " << kiln::shape_to_string(shape) << " is not static";
    // Roughly the spread of the N(0, 1) inputs the models were calibrated with.
    kiln::Tensor x = kiln::test::random_f32(shape, 20240611u, -1.7f, 1.7f);
    std::vector<kiln::Tensor> a = kept.run({x});
    std::vector<kiln::Tensor> b = folded.run({x});
    ASSERT_EQ(a.size(), b.size());
    for (size_t k = 0; k < a.size(); ++k)
      check_output("output " + std::to_string(k) + " '" + kept.outputs()[k].name + "', folded vs kept", b[k], a[k],
                   "max_abs_diff_" + std::to_string(k));
  }

 private:
  fs::path kept_, folded_;
};

bool bit_identical(const std::vector<kiln::Tensor>& a, const std::vector<kiln::Tensor>& b) {
  if (a.size() != b.size()) return false;
  for (size_t k = 0; k < a.size(); ++k)
    if (a[k].dtype() != b[k].dtype() || a[k].shape() != b[k].shape() ||
        std::memcmp(a[k].data(), b[k].data(), a[k].nbytes()) != 0)
      return false;
  return true;
}

// The runtime on a real network: outputs bit-identical for 1, 2 and 3 threads
// (kernels partition work, never reductions, by thread); the first run (on the
// heap, recording sizes) and later runs (in the planned arena) identical too,
// the later ones allocating no tensor but the graph outputs; and two sessions
// of two threads each, run at the same time from two threads, each giving its
// serial answer.
class RuntimeTest : public testing::Test {
 public:
  explicit RuntimeTest(fs::path dir) : dir_(std::move(dir)) {}
  void TestBody() override {
    auto sets = data_sets(dir_);
    ASSERT_FALSE(sets.empty());
    std::vector<kiln::Tensor> inputs = {kiln::load_tensor_file((sets[0] / "input_0.pb").string())};
    std::vector<std::vector<kiln::Tensor>> by_threads;
    for (int threads : {1, 2, 3}) {
      kiln::SessionOptions o;
      o.threads = threads;
      kiln::Session s = kiln::Session::load((dir_ / "model.onnx").string(), o);
      ASSERT_EQ(s.inputs().size(), 1u);
      std::vector<kiln::Tensor> first = s.run(inputs);
      uint64_t tensors0 = kiln::detail::tensor_storage_allocations();
      uint64_t arenas0 = kiln::runtime::Executor::arena_allocations();
      std::vector<kiln::Tensor> second = s.run(inputs);
      std::vector<kiln::Tensor> third = s.run(inputs);
      EXPECT_EQ(kiln::detail::tensor_storage_allocations() - tensors0, 2 * first.size())
          << threads << " threads: tensors allocated in two planned runs besides their outputs";
      EXPECT_EQ(kiln::runtime::Executor::arena_allocations() - arenas0, 1u) << threads << " threads";
      EXPECT_TRUE(bit_identical(first, second)) << threads << " threads: heap run vs arena run";
      EXPECT_TRUE(bit_identical(second, third)) << threads << " threads: arena runs";
      by_threads.push_back(std::move(second));
    }
    EXPECT_TRUE(bit_identical(by_threads[0], by_threads[1])) << "1 vs 2 threads";
    EXPECT_TRUE(bit_identical(by_threads[0], by_threads[2])) << "1 vs 3 threads";

    kiln::SessionOptions o;
    o.threads = 2;
    kiln::Session a = kiln::Session::load((dir_ / "model.onnx").string(), o);
    kiln::Session b = kiln::Session::load((dir_ / "model.onnx").string(), o);
    std::vector<kiln::Tensor> other = {kiln::test::random_f32(inputs[0].shape(), 99u, -1.7f, 1.7f)};
    std::vector<kiln::Tensor> want_other = a.run(other);
    std::vector<std::vector<kiln::Tensor>> got(2);
    std::vector<std::string> errors(2);
    auto work = [&](int i) {
      try {
        const kiln::Session& s = i == 0 ? a : b;
        const auto& x = i == 0 ? inputs : other;
        for (int r = 0; r < 3; ++r) got[i] = s.run(x);
      } catch (const std::exception& e) {
        errors[i] = e.what();
      }
    };
    std::thread t0(work, 0), t1(work, 1);
    t0.join();
    t1.join();
    EXPECT_EQ(errors[0], "");
    EXPECT_EQ(errors[1], "");
    EXPECT_TRUE(bit_identical(got[0], by_threads[1])) << "session A, run beside session B";
    EXPECT_TRUE(bit_identical(got[1], want_other)) << "session B, run beside session A";
  }

 private:
  fs::path dir_;
};

// Every model group the build was configured to export has its two main variants (a group
// whose export failed halfway would otherwise just have fewer tests).
class AllExportedTest : public testing::Test {
 public:
  explicit AllExportedTest(fs::path root) : root_(std::move(root)) {}
  void TestBody() override {
    if (root_ != fs::path(KILN_MODELS_DIR))
      GTEST_SKIP() << "KILN_MODELS_DIR points at " << root_ << ", not the build's export folder";
    std::stringstream groups(KILN_MODEL_GROUPS);
    std::string g;
    int n = 0;
    while (std::getline(groups, g, ',')) {
      if (g.empty()) continue;
      ++n;
      for (const char* variant : {"_bn_kept", "_folded"})
        EXPECT_TRUE(fs::exists(root_ / (g + variant) / "model.onnx")) << "missing " << (root_ / (g + variant));
    }
    if (n == 0) GTEST_SKIP() << "the build was configured without model export";
  }

 private:
  fs::path root_;
};

class Skipped : public testing::Test {
 public:
  explicit Skipped(std::string why) : why_(std::move(why)) {}
  void TestBody() override { GTEST_SKIP() << why_; }

 private:
  std::string why_;
};

std::vector<fs::path> model_folders(const fs::path& root) {
  std::vector<fs::path> dirs;
  if (!fs::is_directory(root)) return dirs;
  for (const auto& e : fs::directory_iterator(root))
    if (e.is_directory() && fs::exists(e.path() / "model.onnx")) dirs.push_back(e.path());
  std::sort(dirs.begin(), dirs.end());
  return dirs;
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// One test per folder with kiln's defaults; BN-kept models also with the optimizations off.
void register_folder_tests(const char* suite, const std::vector<fs::path>& dirs) {
  for (const fs::path& dir : dirs) {
    std::string name = dir.filename().string();
    testing::RegisterTest(suite, name.c_str(), nullptr, nullptr, __FILE__, __LINE__,
                          [dir]() -> testing::Test* { return new ModelTest(dir, false); });
    if (can_disable_fusion() && ends_with(name, "_bn_kept"))
      testing::RegisterTest(suite, (name + "_unfused").c_str(), nullptr, nullptr, __FILE__, __LINE__,
                            [dir]() -> testing::Test* { return new ModelTest(dir, true); });
  }
}

}  // namespace

int main(int argc, char** argv) {
  testing::InitGoogleTest(&argc, argv);

  // Bundled with the sources: always there.
  register_folder_tests("BundledModels", model_folders(KILN_BUNDLED_MODELS_DIR));

  const fs::path root = models_dir();
  std::vector<fs::path> dirs = model_folders(root);
  if (dirs.empty()) {
    std::string why = "no exported models in " + root.string() +
                      ": the build exports them when KILN_PYTHON (" KILN_PYTHON ") has torch, torchvision and onnx;"
                      " or run tests/models/export_models.py " + root.string() + " all (KILN_MODELS_DIR overrides)";
    testing::RegisterTest("Models", "not_generated", nullptr, nullptr, __FILE__, __LINE__,
                          [why]() -> testing::Test* { return new Skipped(why); });
  } else {
    register_folder_tests("Models", dirs);
    testing::RegisterTest("Models", "all_exported", nullptr, nullptr, __FILE__, __LINE__,
                          [root]() -> testing::Test* { return new AllExportedTest(root); });
    const std::string kept_suffix = "_bn_kept";
    for (const fs::path& kept : dirs) {
      std::string name = kept.filename().string();
      if (!ends_with(name, kept_suffix) || name.size() == kept_suffix.size()) continue;
      std::string group = name.substr(0, name.size() - kept_suffix.size());
      fs::path folded = root / (group + "_folded");
      testing::RegisterTest("Runtime", group.c_str(), nullptr, nullptr, __FILE__, __LINE__,
                            [kept]() -> testing::Test* { return new RuntimeTest(kept); });
      if (!fs::exists(folded / "model.onnx")) continue;
      testing::RegisterTest("FoldedVsKept", group.c_str(), nullptr, nullptr, __FILE__, __LINE__,
                            [kept, folded]() -> testing::Test* { return new FoldedVsKeptTest(kept, folded); });
    }
  }
  return RUN_ALL_TESTS();
}
