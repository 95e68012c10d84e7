// model-runner: load an ONNX model, run it, check and time it.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <iostream>
#include <optional>
#include <random>
#include <sstream>

#include "kiln/kiln.h"
#include "kiln/tensor_io.h"
#include "options.h"

namespace fs = std::filesystem;
using kiln::DType;
using kiln::Tensor;

namespace {

struct DataSet {
  std::string label;                     // the folder, or "random inputs"
  std::vector<Tensor> inputs;            // in session input order
  std::vector<std::optional<Tensor>> expected;  // per output; empty when none
};

struct OutputReport {
  std::string name;
  std::vector<int64_t> shape;
  bool compared = false;
  double max_abs = 0, max_rel = 0;
  bool ok = true;
  std::string problem;  // dtype/shape mismatch
  size_t data_set = 0;
};

double element(const Tensor& t, int64_t i) {
  switch (t.dtype()) {
    case DType::Float32: return t.data_as<float>()[i];
    case DType::Float64: return t.data_as<double>()[i];
    case DType::Int64: return static_cast<double>(t.data_as<int64_t>()[i]);
    case DType::Int32: return t.data_as<int32_t>()[i];
    case DType::Int16: return t.data_as<int16_t>()[i];
    case DType::Int8: return t.data_as<int8_t>()[i];
    case DType::UInt64: return static_cast<double>(t.data_as<uint64_t>()[i]);
    case DType::UInt32: return t.data_as<uint32_t>()[i];
    case DType::UInt16: return t.data_as<uint16_t>()[i];
    case DType::UInt8: case DType::Bool: return t.data_as<uint8_t>()[i];
    default: throw kiln::Error("cannot compare tensors of dtype " + kiln::dtype_name(t.dtype()));
  }
}

OutputReport compare(const std::string& name, const Tensor& got, const Tensor& want, double atol, double rtol) {
  OutputReport r;
  r.name = name;
  r.shape = got.shape();
  r.compared = true;
  if (got.dtype() != want.dtype()) {
    r.ok = false;
    r.problem = "dtype " + kiln::dtype_name(got.dtype()) + ", expected " + kiln::dtype_name(want.dtype());
    return r;
  }
  if (got.shape() != want.shape()) {
    r.ok = false;
    r.problem = "shape " + kiln::shape_to_string(got.shape()) + ", expected " + kiln::shape_to_string(want.shape());
    return r;
  }
  for (int64_t i = 0; i < got.numel(); ++i) {
    double g = element(got, i), w = element(want, i);
    if (std::isnan(g) || std::isnan(w)) {
      if (std::isnan(g) != std::isnan(w)) {
        r.ok = false;
        r.max_abs = r.max_rel = INFINITY;
      }
      continue;
    }
    if (g == w) continue;  // also equal infinities
    double d = std::fabs(g - w);
    r.max_abs = std::max(r.max_abs, d);
    r.max_rel = std::max(r.max_rel, w != 0 ? d / std::fabs(w) : INFINITY);
    if (!(d <= atol + rtol * std::fabs(w))) r.ok = false;
  }
  return r;
}

Tensor random_tensor(DType dtype, const std::vector<int64_t>& shape, std::mt19937_64& rng) {
  Tensor t(dtype, shape);
  std::uniform_real_distribution<double> real(-1.0, 1.0);
  std::uniform_int_distribution<int> small(0, 9);
  for (int64_t i = 0; i < t.numel(); ++i) {
    switch (dtype) {
      case DType::Float32: t.data_as<float>()[i] = static_cast<float>(real(rng)); break;
      case DType::Float64: t.data_as<double>()[i] = real(rng); break;
      case DType::Int64: t.data_as<int64_t>()[i] = small(rng); break;
      case DType::Int32: t.data_as<int32_t>()[i] = small(rng); break;
      case DType::Bool: t.data_as<uint8_t>()[i] = small(rng) & 1; break;
      case DType::UInt8: t.data_as<uint8_t>()[i] = static_cast<uint8_t>(small(rng)); break;
      case DType::Int8: t.data_as<int8_t>()[i] = static_cast<int8_t>(small(rng)); break;
      default: throw kiln::Error("cannot make random data of dtype " + kiln::dtype_name(dtype));
    }
  }
  return t;
}

// Length of the well-formed UTF-8 sequence starting at s[i], or 0 if there is
// none (RFC 3629 table: no overlongs, no surrogates, nothing above U+10FFFF).
size_t utf8_sequence_length(const std::string& s, size_t i) {
  auto byte = [&](size_t k) { return k < s.size() ? static_cast<unsigned char>(s[k]) : 0u; };
  unsigned c = byte(i);
  size_t len;
  unsigned lo = 0x80, hi = 0xBF;  // allowed range of the second byte
  if (c >= 0xC2 && c <= 0xDF) len = 2;
  else if (c >= 0xE0 && c <= 0xEF) { len = 3; if (c == 0xE0) lo = 0xA0; if (c == 0xED) hi = 0x9F; }
  else if (c >= 0xF0 && c <= 0xF4) { len = 4; if (c == 0xF0) lo = 0x90; if (c == 0xF4) hi = 0x8F; }
  else return 0;
  if (byte(i + 1) < lo || byte(i + 1) > hi) return 0;
  for (size_t k = 2; k < len; ++k)
    if (byte(i + k) < 0x80 || byte(i + k) > 0xBF) return 0;
  return len;
}

// A JSON string body. Names and messages can carry arbitrary bytes from a
// model file; bytes that are not UTF-8 become U+FFFD so the output stays JSON.
std::string json_escape(const std::string& s) {
  std::string o;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    auto u = static_cast<unsigned char>(c);
    if (u >= 0x80) {
      size_t len = utf8_sequence_length(s, i);
      if (len == 0) {
        o += "\\ufffd";
      } else {
        o.append(s, i, len);
        i += len - 1;
      }
      continue;
    }
    switch (c) {
      case '"': o += "\\\""; break;
      case '\\': o += "\\\\"; break;
      case '\n': o += "\\n"; break;
      case '\t': o += "\\t"; break;
      default:
        if (u < 0x20 || u == 0x7F) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", u);
          o += buf;
        } else {
          o += c;
        }
    }
  }
  return o;
}

std::string json_number(double v) {
  if (std::isnan(v) || std::isinf(v)) return "null";
  std::ostringstream s;
  s.precision(9);
  s << v;
  return s.str();
}

std::string shape_json(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ',';
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

std::vector<DataSet> gather_inputs(const kiln::cli::Options& o, const kiln::Session& session, std::ostream& log) {
  const auto& ins = session.inputs();
  const auto& outs = session.outputs();
  std::vector<DataSet> sets;
  for (const std::string& dir : o.data_dirs) {
    if (!fs::is_directory(dir)) throw kiln::Error("--data " + dir + ": not a folder");
    DataSet ds;
    ds.label = dir;
    for (size_t k = 0; k < ins.size(); ++k) {
      fs::path p = fs::path(dir) / ("input_" + std::to_string(k) + ".pb");
      if (!fs::exists(p))
        throw kiln::Error(dir + ": missing " + p.filename().string() + " for input '" + ins[k].name + "' (the model has " +
                          std::to_string(ins.size()) + " inputs)");
      ds.inputs.push_back(kiln::load_tensor_file(p.string()));
    }
    if (fs::exists(fs::path(dir) / ("input_" + std::to_string(ins.size()) + ".pb")))
      throw kiln::Error(dir + ": has more input_<k>.pb files than the model's " + std::to_string(ins.size()) + " inputs");
    for (size_t k = 0; k < outs.size(); ++k) {
      fs::path p = fs::path(dir) / ("output_" + std::to_string(k) + ".pb");
      if (fs::exists(p)) ds.expected.emplace_back(kiln::load_tensor_file(p.string()));
      else ds.expected.emplace_back();
    }
    sets.push_back(std::move(ds));
  }
  if (!sets.empty()) return sets;

  // (Pairs, not structured bindings: clang 14 cannot capture those in lambdas.)
  for (const auto& entry : o.input_files) {
    const std::string& name = entry.first;
    bool found = std::any_of(ins.begin(), ins.end(), [&](const auto& i) { return i.name == name; });
    if (!found) throw kiln::Error("--input: the model has no input named '" + name + "'");
  }
  for (const auto& entry : o.shapes) {
    const std::string& name = entry.first;
    bool found = std::any_of(ins.begin(), ins.end(), [&](const auto& i) { return i.name == name; });
    if (!found) throw kiln::Error("--shape: the model has no input named '" + name + "'");
  }
  DataSet ds;
  ds.label = "random inputs (seed " + std::to_string(o.seed) + ")";
  std::mt19937_64 rng(o.seed);
  for (const auto& info : ins) {
    auto file = o.input_files.find(info.name);
    if (file != o.input_files.end()) {
      ds.inputs.push_back(kiln::load_tensor_file(file->second));
      continue;
    }
    std::vector<int64_t> shape = info.shape;
    auto given = o.shapes.find(info.name);
    if (given != o.shapes.end()) {
      shape = given->second;
    } else {
      if (!info.has_shape) throw kiln::Error("input '" + info.name + "' has no declared shape; give --shape " + info.name + "=DIMS");
      for (size_t d = 0; d < shape.size(); ++d) {
        if (shape[d] < 0) {
          shape[d] = 1;
          log << "note: input '" << info.name << "' dim " << d
              << (info.dim_names[d].empty() ? "" : " ('" + info.dim_names[d] + "')") << " is free; using 1 (set it with --shape)\n";
        }
      }
    }
    ds.inputs.push_back(random_tensor(info.dtype, shape, rng));
  }
  ds.expected.resize(outs.size());
  sets.push_back(std::move(ds));
  return sets;
}

double percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  double idx = p * (v.size() - 1);
  size_t lo = static_cast<size_t>(std::floor(idx)), hi = static_cast<size_t>(std::ceil(idx));
  return v[lo] + (v[hi] - v[lo]) * (idx - lo);
}

// Latencies (ms) of `iterations` runs after `warmup` untimed ones.
std::vector<double> time_runs(const kiln::Session& session, const std::vector<Tensor>& inputs, int warmup,
                              int iterations) {
  std::vector<double> lat;
  for (int i = 0; i < warmup; ++i) session.run(inputs);
  for (int i = 0; i < iterations; ++i) {
    auto a = std::chrono::steady_clock::now();
    session.run(inputs);
    lat.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - a).count());
  }
  return lat;
}

// One profiled run: when it started (ms from the first profiled run) and
// what each node took.
struct ProfiledRun {
  double start_ms = 0, duration_ms = 0;
  std::vector<kiln::NodeProfile> nodes;
};

// Runs `iterations` times (after `warmup` plain runs) with per-node timing.
std::vector<ProfiledRun> profile_runs(const kiln::Session& session, const std::vector<Tensor>& inputs, int warmup,
                                      int iterations, std::vector<double>& latencies) {
  for (int i = 0; i < warmup; ++i) session.run(inputs);
  std::vector<ProfiledRun> runs(static_cast<size_t>(iterations));
  auto origin = std::chrono::steady_clock::now();
  for (auto& r : runs) {
    auto a = std::chrono::steady_clock::now();
    session.run_profiled(inputs, r.nodes);
    auto b = std::chrono::steady_clock::now();
    r.start_ms = std::chrono::duration<double, std::milli>(a - origin).count();
    r.duration_ms = std::chrono::duration<double, std::milli>(b - a).count();
    latencies.push_back(r.duration_ms);
  }
  return runs;
}

std::string shapes_json(const std::vector<std::vector<int64_t>>& shapes) {
  std::string s = "[";
  for (size_t i = 0; i < shapes.size(); ++i) s += (i ? "," : "") + shape_json(shapes[i]);
  return s + "]";
}

// Chrome trace event format: one "X" (complete) event per run and per node,
// timestamps in microseconds. Runs follow each other on the calling thread,
// so each run's nodes nest inside its run event on one track.
void write_trace(const std::string& path, const std::string& model, int threads, const std::vector<ProfiledRun>& runs) {
  std::ofstream f(path);
  if (!f) throw kiln::Error("--profile: cannot write " + path);
  f << "{\"displayTimeUnit\":\"ms\",\"traceEvents\":[\n";
  f << "{\"name\":\"process_name\",\"ph\":\"M\",\"pid\":1,\"tid\":1,\"args\":{\"name\":\"kiln " << json_escape(model)
    << "\"}},\n{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":1,\"tid\":1,\"args\":{\"name\":\"runs (" << threads
    << " intra-op threads)\"}}";
  for (size_t r = 0; r < runs.size(); ++r) {
    const ProfiledRun& run = runs[r];
    double t0 = run.start_ms * 1000.0;
    f << ",\n{\"name\":\"run " << r << "\",\"cat\":\"run\",\"ph\":\"X\",\"pid\":1,\"tid\":1,\"ts\":" << json_number(t0)
      << ",\"dur\":" << json_number(run.duration_ms * 1000.0) << ",\"args\":{\"iteration\":" << r << "}}";
    for (size_t k = 0; k < run.nodes.size(); ++k) {
      const kiln::NodeProfile& n = run.nodes[k];
      std::string name = n.name.empty() ? n.op_type + " #" + std::to_string(k) : n.name;
      f << ",\n{\"name\":\"" << json_escape(name) << "\",\"cat\":\"" << json_escape(n.op_type)
        << "\",\"ph\":\"X\",\"pid\":1,\"tid\":1,\"ts\":" << json_number(t0 + n.start_ms * 1000.0)
        << ",\"dur\":" << json_number(n.duration_ms * 1000.0) << ",\"args\":{\"op\":\"" << json_escape(n.op_type)
        << "\",\"kernel\":\"" << json_escape(n.kernel) << "\",\"input_shapes\":" << shapes_json(n.input_shapes)
        << ",\"output_shapes\":" << shapes_json(n.output_shapes);
      if (n.flops > 0)
        f << ",\"gflop\":" << json_number(n.flops / 1e9)
          << ",\"gflop_per_s\":" << json_number(n.duration_ms > 0 ? n.flops / (n.duration_ms * 1e6) : 0);
      f << "}}";
    }
  }
  f << "\n]}\n";
  if (!f) throw kiln::Error("--profile: error writing " + path);
}

// Per op type over all profiled runs, most expensive first.
void print_op_table(std::ostream& log, const std::vector<ProfiledRun>& runs) {
  struct Row {
    std::string op;
    int64_t calls = 0;
    double ms = 0, flops = 0, flop_ms = 0;  // flop_ms: time of the calls whose flops are known
  };
  std::map<std::string, Row> rows;
  double total = 0;
  for (const auto& run : runs)
    for (const auto& n : run.nodes) {
      Row& r = rows[n.op_type];
      r.op = n.op_type;
      ++r.calls;
      r.ms += n.duration_ms;
      total += n.duration_ms;
      if (n.flops > 0) {
        r.flops += n.flops;
        r.flop_ms += n.duration_ms;
      }
    }
  std::vector<Row> sorted;
  for (auto& [k, r] : rows) sorted.push_back(r);
  std::sort(sorted.begin(), sorted.end(), [](const Row& a, const Row& b) { return a.ms > b.ms; });
  char line[256];
  std::snprintf(line, sizeof line, "%-28s %8s %12s %7s %11s %9s\n", "op type", "calls", "total ms", "share", "avg ms",
                "GFLOP/s");
  log << "profile over " << runs.size() << " run" << (runs.size() == 1 ? "" : "s") << ":\n" << line;
  for (const Row& r : sorted) {
    std::string rate = r.flops > 0 && r.flop_ms > 0 ? json_number(r.flops / (r.flop_ms * 1e6)) : "-";
    std::snprintf(line, sizeof line, "%-28s %8lld %12.3f %6.1f%% %11.4f %9s\n", r.op.c_str(),
                  static_cast<long long>(r.calls), r.ms, total > 0 ? 100.0 * r.ms / total : 0.0,
                  r.ms / static_cast<double>(r.calls), rate.c_str());
    log << line;
  }
  std::snprintf(line, sizeof line, "%-28s %8s %12.3f\n", "all nodes", "", total);
  log << line;
}

kiln::BatchNormMode parse_bn_mode(const std::string& m) {
  if (m == "inference") return kiln::BatchNormMode::Inference;
  if (m == "training") return kiln::BatchNormMode::Training;
  return kiln::BatchNormMode::Auto;
}

void print_fusion(std::ostream& log, const kiln::FusionReport& r, bool explain) {
  log << "fusion: " << (r.enabled ? "on" : "off") << "; BatchNormalization " << r.batchnorm_nodes << " in the model, "
      << r.batchnorm_folded << " folded; " << r.fused_activations << " activations and " << r.fused_adds
      << " residual adds fused; " << r.constants_folded << " nodes evaluated at load\n";
  if (explain)
    for (const auto& d : r.decisions)
      log << "  " << d.op << " '" << d.node << "': " << d.action << (d.reason.empty() ? "" : " - " + d.reason) << "\n";
  for (const auto& w : r.warnings) log << "warning: " << w << "\n";
}

std::string fusion_json(const kiln::FusionReport& r, const std::vector<std::string>& extra_warnings) {
  std::ostringstream j;
  j << "{\"enabled\":" << (r.enabled ? "true" : "false") << ",\"batchnorm_nodes\":" << r.batchnorm_nodes
    << ",\"batchnorm_folded\":" << r.batchnorm_folded << ",\"fused_activations\":" << r.fused_activations
    << ",\"fused_adds\":" << r.fused_adds << ",\"constants_folded\":" << r.constants_folded << ",\"decisions\":[";
  for (size_t i = 0; i < r.decisions.size(); ++i) {
    const auto& d = r.decisions[i];
    j << (i ? "," : "") << "{\"node\":\"" << json_escape(d.node) << "\",\"op\":\"" << json_escape(d.op)
      << "\",\"action\":\"" << json_escape(d.action) << "\",\"reason\":\"" << json_escape(d.reason) << "\"}";
  }
  j << "],\"warnings\":[";
  size_t n = 0;
  for (const auto& w : r.warnings) j << (n++ ? "," : "") << "\"" << json_escape(w) << "\"";
  for (const auto& w : extra_warnings) j << (n++ ? "," : "") << "\"" << json_escape(w) << "\"";
  j << "]}";
  return j.str();
}

struct FusionComparison {
  std::vector<double> max_abs;  // per output
  double fused_ms = 0, unfused_ms = 0;
};

// Runs the model fused and unfused on the same inputs. `session` is the one
// the user asked for; the other is loaded here.
FusionComparison compare_fusion(const kiln::cli::Options& o, const kiln::SessionOptions& so,
                                const kiln::Session& session, const std::vector<Tensor>& inputs) {
  kiln::SessionOptions other_opt = so;
  other_opt.fusion = !so.fusion;
  kiln::Session other = kiln::Session::load(o.model, other_opt);
  const kiln::Session& fused = so.fusion ? session : other;
  const kiln::Session& unfused = so.fusion ? other : session;
  FusionComparison c;
  std::vector<Tensor> a = fused.run(inputs), b = unfused.run(inputs);
  for (size_t k = 0; k < a.size(); ++k) {
    OutputReport r = compare("", a[k], b[k], 0, 0);
    c.max_abs.push_back(r.problem.empty() ? r.max_abs : INFINITY);
  }
  int warmup = o.warmup < 0 ? 1 : o.warmup;
  int iterations = o.iterations > 0 ? o.iterations : 10;
  // Alternate the two so that machine noise hits both alike.
  time_runs(fused, inputs, warmup, 0);
  time_runs(unfused, inputs, warmup, 0);
  std::vector<double> lf, lu;
  for (int i = 0; i < iterations; ++i) {
    lf.push_back(time_runs(fused, inputs, 0, 1)[0]);
    lu.push_back(time_runs(unfused, inputs, 0, 1)[0]);
  }
  c.fused_ms = percentile(lf, 0.5);
  c.unfused_ms = percentile(lu, 0.5);
  return c;
}

int run(const kiln::cli::Options& o) {
  std::ostream& log = o.json ? std::cerr : std::cout;
  kiln::SessionOptions so;
  so.threads = o.threads;
  so.fusion = o.fusion;
  so.memory_plan = o.memory_plan;
  so.split_batch = o.batch_split;
  so.batchnorm_mode = parse_bn_mode(o.bn_mode);
  auto t0 = std::chrono::steady_clock::now();
  kiln::Session session = kiln::Session::load(o.model, so);
  double load_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  log << "model: " << o.model << " (" << session.inputs().size() << " inputs, " << session.outputs().size()
      << " outputs), loaded in " << load_ms << " ms, " << session.threads() << " threads\n";
  print_fusion(log, session.fusion_report(), o.explain);
  log << "batch split: "
      << (session.splits_batch() ? "on (a batch of several images runs one image at a time)"
                                 : "off - " + session.batch_split_reason())
      << "\n";
  if (!o.save_optimized.empty()) {
    session.save_optimized(o.save_optimized);
    log << "optimized model written to " << o.save_optimized << "\n";
  }

  std::vector<DataSet> sets = gather_inputs(o, session, log);
  std::vector<OutputReport> reports;
  bool all_ok = true;
  for (size_t s = 0; s < sets.size(); ++s) {
    DataSet& ds = sets[s];
    std::vector<Tensor> outs = session.run(ds.inputs);
    for (size_t k = 0; k < outs.size(); ++k) {
      const std::string& name = session.outputs()[k].name;
      OutputReport r;
      if (ds.expected[k]) {
        r = compare(name, outs[k], *ds.expected[k], o.atol, o.rtol);
      } else {
        r.name = name;
        r.shape = outs[k].shape();
      }
      r.data_set = s;
      all_ok = all_ok && r.ok;
      log << "  [" << ds.label << "] " << name << " " << kiln::shape_to_string(r.shape) << " "
          << kiln::dtype_name(outs[k].dtype());
      if (!r.problem.empty()) log << ": MISMATCH (" << r.problem << ")";
      else if (r.compared) log << ": max_abs_err " << r.max_abs << " max_rel_err " << r.max_rel << (r.ok ? " ok" : " MISMATCH");
      log << "\n";
      reports.push_back(r);
    }
    if (!o.output_dir.empty()) {
      fs::path dir = sets.size() > 1 ? fs::path(o.output_dir) / ("data_" + std::to_string(s)) : fs::path(o.output_dir);
      fs::create_directories(dir);
      for (size_t k = 0; k < outs.size(); ++k)
        kiln::save_tensor_pb((dir / ("output_" + std::to_string(k) + ".pb")).string(), outs[k], session.outputs()[k].name);
    }
  }

  std::vector<double> lat;
  if (!o.profile.empty()) {
    std::vector<double> profiled_lat;
    bool timed = o.iterations > 0 && !o.compare_fusion;
    std::vector<ProfiledRun> runs = profile_runs(session, sets.front().inputs, timed ? (o.warmup < 0 ? 1 : o.warmup) : 0,
                                                 timed ? o.iterations : 1, profiled_lat);
    if (timed) lat = profiled_lat;
    write_trace(o.profile, o.model, session.threads(), runs);
    print_op_table(std::cerr, runs);
    std::cerr << "trace written to " << o.profile << "\n";
  } else if (o.iterations > 0 && !o.compare_fusion) {
    lat = time_runs(session, sets.front().inputs, o.warmup < 0 ? 1 : o.warmup, o.iterations);
  }

  std::optional<FusionComparison> cmp;
  std::vector<std::string> audit;
  if (o.compare_fusion) {
    cmp = compare_fusion(o, so, session, sets.front().inputs);
    for (size_t k = 0; k < cmp->max_abs.size(); ++k) {
      log << "  fused vs unfused, output " << session.outputs()[k].name << ": max |diff| " << cmp->max_abs[k] << "\n";
      if (!(cmp->max_abs[k] <= o.atol))
        audit.push_back("fused and unfused outputs '" + session.outputs()[k].name + "' differ by " +
                        std::to_string(cmp->max_abs[k]) + ", more than --atol " + std::to_string(o.atol));
    }
    log << "fused median " << cmp->fused_ms << " ms, unfused median " << cmp->unfused_ms << " ms, speedup "
        << cmp->unfused_ms / cmp->fused_ms << "x\n";
    for (const auto& w : audit) log << "warning: " << w << "\n";
  }
  double mn = 0, med = 0, mean = 0, p90 = 0, batch = 1;
  if (!lat.empty()) {
    mn = *std::min_element(lat.begin(), lat.end());
    med = percentile(lat, 0.5);
    p90 = percentile(lat, 0.9);
    for (double v : lat) mean += v;
    mean /= lat.size();
    const auto& first = sets.front().inputs;
    batch = !first.empty() && first[0].rank() > 0 ? static_cast<double>(first[0].shape()[0]) : 1.0;
    log << "latency over " << lat.size() << " runs (ms): min " << mn << "  median " << med << "  mean " << mean
        << "  p90 " << p90 << "\nthroughput: " << 1000.0 / med << " runs/s, " << batch * 1000.0 / med
        << " samples/s (batch " << batch << ")\n";
  }
  log << (all_ok ? "OK" : "FAILED: an output is outside tolerance") << "\n";

  if (o.json) {
    std::ostringstream j;
    j << "{\"model\":\"" << json_escape(o.model) << "\",\"threads\":" << session.threads() << ",\"ok\":"
      << (all_ok ? "true" : "false") << ",\"load_ms\":" << json_number(load_ms) << ",\"atol\":" << json_number(o.atol)
      << ",\"rtol\":" << json_number(o.rtol) << ",\"outputs\":[";
    for (size_t i = 0; i < reports.size(); ++i) {
      const auto& r = reports[i];
      j << (i ? "," : "") << "{\"name\":\"" << json_escape(r.name) << "\",\"shape\":" << shape_json(r.shape)
        << ",\"data\":\"" << json_escape(sets[r.data_set].label) << "\",\"compared\":" << (r.compared ? "true" : "false")
        << ",\"max_abs_err\":" << (r.compared && r.problem.empty() ? json_number(r.max_abs) : "null")
        << ",\"max_rel_err\":" << (r.compared && r.problem.empty() ? json_number(r.max_rel) : "null")
        << ",\"ok\":" << (r.ok ? "true" : "false");
      if (!r.problem.empty()) j << ",\"problem\":\"" << json_escape(r.problem) << "\"";
      j << "}";
    }
    j << "],\"fusion\":" << fusion_json(session.fusion_report(), audit) << ",\"batch_split\":{\"on\":"
      << (session.splits_batch() ? "true" : "false") << ",\"reason\":\"" << json_escape(session.batch_split_reason())
      << "\"}";
    if (cmp) {
      double worst = 0;
      for (double d : cmp->max_abs) worst = std::max(worst, d);
      j << ",\"compare_fusion\":{\"max_abs_diff\":" << json_number(worst) << ",\"fused_median_ms\":"
        << json_number(cmp->fused_ms) << ",\"unfused_median_ms\":" << json_number(cmp->unfused_ms)
        << ",\"speedup\":" << json_number(cmp->unfused_ms / cmp->fused_ms) << ",\"outputs\":[";
      for (size_t k = 0; k < cmp->max_abs.size(); ++k)
        j << (k ? "," : "") << "{\"name\":\"" << json_escape(session.outputs()[k].name)
          << "\",\"max_abs_diff\":" << json_number(cmp->max_abs[k]) << "}";
      j << "]}";
    }
    if (!lat.empty())
      j << ",\"iterations\":" << lat.size() << ",\"latency_ms\":{\"min\":" << json_number(mn)
        << ",\"median\":" << json_number(med) << ",\"mean\":" << json_number(mean) << ",\"p90\":" << json_number(p90)
        << "},\"throughput_per_s\":" << json_number(batch * 1000.0 / med);
    j << "}\n";
    std::cout << j.str();
  }
  return all_ok ? 0 : 1;
}

// With --json, stdout carries exactly one JSON object even when the run fails
// before producing results.
void print_json_error(const std::string& model, const std::string& message) {
  std::cout << "{";
  if (!model.empty()) std::cout << "\"model\":\"" << json_escape(model) << "\",";
  std::cout << "\"ok\":false,\"error\":\"" << json_escape(message) << "\"}\n";
}

}  // namespace

int main(int argc, char** argv) {
  kiln::cli::Options o;
  try {
    o = kiln::cli::parse_options(argc, argv);
  } catch (const kiln::cli::UsageError& e) {
    std::cerr << "model-runner: " << e.message << "\n\n" << kiln::cli::usage_text();
    // The options did not parse, so look for the flag itself.
    if (std::any_of(argv + 1, argv + argc, [](const char* a) { return std::string(a) == "--json"; }))
      print_json_error("", e.message);
    return 2;
  }
  if (o.help) {
    std::cout << kiln::cli::usage_text();
    return 0;
  }
  try {
    return run(o);
  } catch (const std::exception& e) {  // kiln::Error and anything else (bad_alloc, filesystem errors)
    std::cerr << "model-runner: error: " << e.what() << "\n";
    if (o.json) print_json_error(o.model, e.what());
    return 2;
  }
}
