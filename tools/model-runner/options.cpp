#include "options.h"

#include <charconv>
#include <cstdint>

namespace kiln::cli {

const char* usage_text() {
  return R"(usage: model-runner MODEL.onnx [options]

Loads an ONNX model, runs it on given or random inputs, checks outputs against
expected ones and times it.

  --data DIR            an ONNX test-data folder: input_<k>.pb in graph-input order,
                        optional output_<k>.pb to compare against; repeatable
  --input NAME=FILE     an input from a TensorProto .pb or NumPy .npy file; repeatable
  --shape NAME=DIMS     concrete shape (e.g. 1x3x224x224) for a random input with free
                        dims; free dims not given default to 1; repeatable
  --seed N              seed for random inputs (default 0)
  --threads N           intra-op threads (default: all cores)
  --warmup N            untimed runs before timing (default 1 when timing)
  --iterations N        timed runs: prints min / median / mean / p90 latency and throughput
  --atol A --rtol R     pass when |got - want| <= A + R*|want| elementwise
                        (defaults 1e-4, 1e-3)
  --output-dir DIR      write outputs as output_<k>.pb (per data folder: DIR/data_<i>/)
  --json                one JSON object on stdout; human-readable text goes to stderr
  --profile FILE        time every node of the timed runs (one extra run when
                        --iterations is not given): writes a Chrome trace (open it in
                        ui.perfetto.dev or chrome://tracing) and prints a per-op-type
                        table (calls, total ms, share, average ms, GFLOP/s) to stderr

Graph optimization:
  --fusion on|off       fold BatchNormalization into neighbouring Conv/ConvTranspose/
                        Gemm/MatMul and fuse activations and residual adds into their
                        epilogues (default on); off runs the graph as written
  --no-fuse             same as --fusion off
  --bn-mode MODE        auto (default: per node, from the model), inference (every
                        BatchNormalization uses its running statistics; warns when that
                        changes a node), training (every one uses batch statistics)
  --compare-fusion      run fused and unfused on the same inputs: max |diff| per output,
                        both median latencies and the speedup (uses --warmup/--iterations,
                        10 iterations when none are given)
  --explain             print every BatchNormalization and fusion decision
  --save-optimized FILE write the optimized graph as a standard ONNX model
  --no-memory-plan      allocate every intermediate on the heap instead of the planned
                        per-run arena (for comparison)
  --batch-split on|off  run a batch of several images one image at a time, the threads
                        each taking whole images, when the graph computes every image
                        on its own (default on; the log says whether it applies and
                        why not); off always runs the batch whole
  --help                this text

Exit status: 0 success (every compared output within tolerance); 1 an output
mismatched; 2 usage error, or the model or an input could not be loaded or run.
)";
}

namespace {

template <class T>
T parse_number(const std::string& flag, const std::string& text) {
  T v{};
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || p != text.data() + text.size() || text.empty())
    throw UsageError{flag + ": '" + text + "' is not a valid number"};
  return v;
}

double parse_double(const std::string& flag, const std::string& text) {
  try {
    size_t used = 0;
    double v = std::stod(text, &used);
    if (used != text.size()) throw 0;
    return v;
  } catch (...) {
    throw UsageError{flag + ": '" + text + "' is not a valid number"};
  }
}

std::pair<std::string, std::string> split_assignment(const std::string& flag, const std::string& text) {
  auto eq = text.rfind('=');
  if (eq == std::string::npos || eq == 0 || eq + 1 == text.size())
    throw UsageError{flag + ": expected NAME=VALUE, got '" + text + "'"};
  return {text.substr(0, eq), text.substr(eq + 1)};
}

std::vector<int64_t> parse_dims(const std::string& flag, const std::string& text) {
  std::vector<int64_t> dims;
  size_t start = 0;
  while (true) {
    size_t x = text.find_first_of("x,", start);
    std::string part = text.substr(start, x == std::string::npos ? std::string::npos : x - start);
    int64_t d = parse_number<int64_t>(flag, part);
    if (d < 0) throw UsageError{flag + ": negative dimension in '" + text + "'"};
    dims.push_back(d);
    if (x == std::string::npos) break;
    start = x + 1;
  }
  return dims;
}

}  // namespace

Options parse_options(int argc, char** argv) {
  Options o;
  std::vector<std::string> args(argv + 1, argv + argc);
  for (size_t i = 0; i < args.size(); ++i) {
    std::string a = args[i];
    std::string value;
    bool has_inline = false;
    if (a.rfind("--", 0) == 0) {
      auto eq = a.find('=');
      if (eq != std::string::npos) {
        value = a.substr(eq + 1);
        a = a.substr(0, eq);
        has_inline = true;
      }
    }
    auto next = [&]() -> std::string {
      if (has_inline) return value;
      if (i + 1 >= args.size()) throw UsageError{a + " needs a value"};
      return args[++i];
    };
    auto no_value = [&] {
      if (has_inline) throw UsageError{a + " takes no value"};
    };
    if (a == "--help" || a == "-h") { no_value(); o.help = true; }
    else if (a == "--json") { no_value(); o.json = true; }
    else if (a == "--data") o.data_dirs.push_back(next());
    else if (a == "--input") {
      auto [name, file] = split_assignment(a, next());
      if (!o.input_files.emplace(name, file).second) throw UsageError{"--input: '" + name + "' given twice"};
    } else if (a == "--shape") {
      auto [name, dims] = split_assignment(a, next());
      if (!o.shapes.emplace(name, parse_dims(a, dims)).second) throw UsageError{"--shape: '" + name + "' given twice"};
    } else if (a == "--threads") {
      o.threads = parse_number<int>(a, next());
      if (o.threads < 1) throw UsageError{"--threads must be at least 1"};
    } else if (a == "--warmup") {
      o.warmup = parse_number<int>(a, next());
      if (o.warmup < 0) throw UsageError{"--warmup must be >= 0"};
    } else if (a == "--iterations") {
      o.iterations = parse_number<int>(a, next());
      if (o.iterations < 0) throw UsageError{"--iterations must be >= 0"};
    } else if (a == "--seed") o.seed = parse_number<uint64_t>(a, next());
    else if (a == "--atol") {
      o.atol = parse_double(a, next());
      if (!(o.atol >= 0)) throw UsageError{"--atol must be >= 0"};
    } else if (a == "--rtol") {
      o.rtol = parse_double(a, next());
      if (!(o.rtol >= 0)) throw UsageError{"--rtol must be >= 0"};
    } else if (a == "--output-dir") o.output_dir = next();
    else if (a == "--fusion") {
      std::string v = next();
      if (v != "on" && v != "off") throw UsageError{"--fusion takes on or off, got '" + v + "'"};
      o.fusion = v == "on";
    } else if (a == "--no-fuse") { no_value(); o.fusion = false; }
    else if (a == "--bn-mode") {
      o.bn_mode = next();
      if (o.bn_mode != "auto" && o.bn_mode != "inference" && o.bn_mode != "training")
        throw UsageError{"--bn-mode takes auto, inference or training, got '" + o.bn_mode + "'"};
    } else if (a == "--compare-fusion") { no_value(); o.compare_fusion = true; }
    else if (a == "--explain") { no_value(); o.explain = true; }
    else if (a == "--save-optimized") o.save_optimized = next();
    else if (a == "--no-memory-plan") { no_value(); o.memory_plan = false; }
    else if (a == "--batch-split") {
      std::string v = next();
      if (v != "on" && v != "off") throw UsageError{"--batch-split takes on or off, got '" + v + "'"};
      o.batch_split = v == "on";
    }
    else if (a == "--profile") {
      o.profile = next();
      if (o.profile.empty()) throw UsageError{"--profile needs a file name"};
    }
    else if (a.size() > 1 && a[0] == '-') throw UsageError{"unknown option '" + a + "' (see --help)"};
    else if (o.model.empty()) o.model = a;
    else throw UsageError{"unexpected argument '" + a + "' (only one model may be given)"};
  }
  if (!o.help && o.model.empty()) throw UsageError{"no model given"};
  if (!o.data_dirs.empty() && !o.input_files.empty())
    throw UsageError{"--data and --input cannot be combined"};
  return o;
}

}  // namespace kiln::cli
