#include "support/test_util.h"

#include <cmath>
#include <cstring>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <sstream>

namespace kiln::test {

namespace {
// IEEE binary16 → double, exactly (every half is a double).
double half_to_double(uint16_t h) {
  int sign = h >> 15, exp = (h >> 10) & 0x1F, frac = h & 0x3FF;
  double v;
  if (exp == 0) v = std::ldexp(frac, -24);                       // zero and subnormals
  else if (exp == 31) v = frac ? NAN : INFINITY;                  // Inf and NaN
  else v = std::ldexp(1024 + frac, exp - 25);                     // normal: (1 + f/1024)·2^(e−15)
  return sign ? -v : v;
}

// bfloat16 → double: the upper half of a float32.
double bfloat16_to_double(uint16_t b) {
  uint32_t bits = static_cast<uint32_t>(b) << 16;
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

double at(const Tensor& t, int64_t i) {
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
    case DType::Float16: return half_to_double(t.data_as<uint16_t>()[i]);
    case DType::BFloat16: return bfloat16_to_double(t.data_as<uint16_t>()[i]);
    default: throw Error("compare: unsupported dtype " + dtype_name(t.dtype()));
  }
}
}  // namespace

std::string compare_tensors(const Tensor& got, const Tensor& want, double atol, double rtol) {
  if (got.dtype() != want.dtype())
    return "dtype " + dtype_name(got.dtype()) + " but expected " + dtype_name(want.dtype());
  if (got.shape() != want.shape())
    return "shape " + shape_to_string(got.shape()) + " but expected " + shape_to_string(want.shape());
  int64_t bad = 0, first = -1;
  double worst = 0;
  int64_t worst_i = -1;
  for (int64_t i = 0; i < got.numel(); ++i) {
    double g = at(got, i), w = at(want, i);
    bool ok;
    if (std::isnan(g) || std::isnan(w)) ok = std::isnan(g) && std::isnan(w);
    else if (g == w) ok = true;
    else ok = std::fabs(g - w) <= atol + rtol * std::fabs(w);
    if (!ok) {
      ++bad;
      if (first < 0) first = i;
      double d = std::isnan(g - w) ? INFINITY : std::fabs(g - w);
      if (d >= worst) { worst = d; worst_i = i; }
    }
  }
  if (!bad) return "";
  std::ostringstream s;
  s.precision(9);
  s << bad << " of " << got.numel() << " elements differ (atol " << atol << ", rtol " << rtol << "); first at "
    << first << ": got " << at(got, first) << " want " << at(want, first) << "; worst at " << worst_i << ": got "
    << at(got, worst_i) << " want " << at(want, worst_i);
  return s.str();
}

double max_abs_diff(const Tensor& got, const Tensor& want) {
  if (got.shape() != want.shape()) return INFINITY;
  double m = 0;
  for (int64_t i = 0; i < got.numel(); ++i) {
    double g = at(got, i), w = at(want, i);
    if (std::isnan(g) && std::isnan(w)) continue;
    double d = std::fabs(g - w);
    if (std::isnan(d)) return INFINITY;
    m = std::max(m, d);
  }
  return m;
}

Tensor make_f32(std::vector<int64_t> shape, std::vector<float> values) {
  Tensor t(DType::Float32, std::move(shape));
  if (static_cast<int64_t>(values.size()) != t.numel()) throw Error("make_f32: value count does not match shape");
  std::copy(values.begin(), values.end(), t.data_as<float>());
  return t;
}

Tensor make_i64(std::vector<int64_t> shape, std::vector<int64_t> values) {
  Tensor t(DType::Int64, std::move(shape));
  if (static_cast<int64_t>(values.size()) != t.numel()) throw Error("make_i64: value count does not match shape");
  std::copy(values.begin(), values.end(), t.data_as<int64_t>());
  return t;
}

Tensor iota_f32(std::vector<int64_t> shape, float start) {
  Tensor t(DType::Float32, std::move(shape));
  for (int64_t i = 0; i < t.numel(); ++i) t.data_as<float>()[i] = start + static_cast<float>(i);
  return t;
}

Tensor random_f32(std::vector<int64_t> shape, uint32_t seed, float lo, float hi) {
  Tensor t(DType::Float32, std::move(shape));
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(lo, hi);
  for (int64_t i = 0; i < t.numel(); ++i) t.data_as<float>()[i] = d(rng);
  return t;
}

std::string onnx_node_tests_dir() {
  const char* env = std::getenv("KILN_ONNX_NODE_TESTS");
#ifdef KILN_ONNX_NODE_TESTS
  std::string dir = env && *env ? env : KILN_ONNX_NODE_TESTS;
#else
  std::string dir = env ? env : "";
#endif
  return !dir.empty() && std::filesystem::is_directory(dir) ? dir : "";
}

}  // namespace kiln::test
