// Whole-model latency: every exported benchmark model × {fused, unfused} ×
// batch {1, 8}, at the session's default threads (all cores) unless
// KILN_BENCH_THREADS says otherwise. Reports ms per run and images/s.
//
//   KILN_BENCH_MODELS=DIR kiln_model_bench [--benchmark_filter=resnet50] …
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <random>

#include "kiln/kiln.h"

namespace fs = std::filesystem;

namespace {

std::vector<int64_t> read_shape(const fs::path& file) {
  std::ifstream f(file);
  std::string s;
  f >> s;
  std::vector<int64_t> dims;
  size_t start = 0;
  while (start < s.size()) {
    size_t x = s.find('x', start);
    dims.push_back(std::stoll(s.substr(start, x - start)));
    if (x == std::string::npos) break;
    start = x + 1;
  }
  return dims;
}

void bench_model(benchmark::State& state, fs::path model, bool fusion, int64_t batch) {
  kiln::SessionOptions opt;
  opt.fusion = fusion;
  if (const char* t = std::getenv("KILN_BENCH_THREADS")) opt.threads = std::atoi(t);
  kiln::Session session = kiln::Session::load((model / "model.onnx").string(), opt);
  std::vector<int64_t> shape = {batch};
  for (int64_t d : read_shape(model / "input_shape.txt")) shape.push_back(d);
  kiln::Tensor x(kiln::DType::Float32, shape);
  std::mt19937 rng(1);
  std::normal_distribution<float> nd;
  for (int64_t i = 0; i < x.numel(); ++i) x.data_as<float>()[i] = nd(rng);
  session.run({x});  // warm-up
  for (auto _ : state) {
    auto y = session.run({x});
    benchmark::DoNotOptimize(y.data());
  }
  state.counters["images/s"] = benchmark::Counter(static_cast<double>(batch * state.iterations()),
                                                  benchmark::Counter::kIsRate);
  state.counters["threads"] = session.threads();
  state.counters["bn_folded"] = session.fusion_report().batchnorm_folded;
}

}  // namespace

int main(int argc, char** argv) {
  const char* env = std::getenv("KILN_BENCH_MODELS");
  fs::path root = env && *env ? env : KILN_BENCH_MODELS;
  if (!fs::is_directory(root)) {
    std::cerr << "no benchmark models in " << root
              << ": run `cmake --build build --target bench-models` or set KILN_BENCH_MODELS\n";
    return 2;
  }
  std::vector<fs::path> models;
  for (const auto& e : fs::directory_iterator(root))
    if (fs::exists(e.path() / "model.onnx") && fs::exists(e.path() / "input_shape.txt")) models.push_back(e.path());
  std::sort(models.begin(), models.end());
  for (const fs::path& m : models)
    for (int64_t batch : {1, 8})
      for (bool fusion : {true, false}) {
        std::string name = m.filename().string() + "/" + (fusion ? "fused" : "unfused") + "/batch:" + std::to_string(batch);
        benchmark::RegisterBenchmark(name.c_str(), bench_model, m, fusion, batch)
            ->Unit(benchmark::kMillisecond)
            ->UseRealTime()
            ->MinTime(1.0);
      }
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
