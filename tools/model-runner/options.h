// Command-line options of model-runner and their parsing.
#pragma once

#include <map>
#include <string>
#include <vector>

namespace kiln::cli {

struct Options {
  std::string model;
  std::vector<std::string> data_dirs;
  std::map<std::string, std::string> input_files;           // name → file
  std::map<std::string, std::vector<int64_t>> shapes;       // name → concrete shape
  int threads = 0;
  int warmup = -1;  // -1: 1 when timing, else 0
  int iterations = 0;
  double atol = 1e-4, rtol = 1e-3;
  std::string output_dir;
  bool json = false;
  bool help = false;
  uint64_t seed = 0;
  bool fusion = true;
  std::string bn_mode = "auto";  // auto | inference | training
  bool compare_fusion = false;
  bool explain = false;
  std::string save_optimized;
  std::string profile;  // Chrome-trace JSON file; empty: no profiling
  bool memory_plan = true;
  bool batch_split = true;
};

// Parses argv; throws UsageError with a message on anything malformed.
struct UsageError {
  std::string message;
};
Options parse_options(int argc, char** argv);
const char* usage_text();

}  // namespace kiln::cli
