// Activations: formulas against direct evaluation, attribute defaults and
// versions, numerical stability at extreme inputs, PRelu's slope
// broadcasting, Clip's attribute and input forms, and errors.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>

#include "support/model_builder.h"
#include "support/test_util.h"

namespace kiln::test {
namespace {

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();

template <class T>
Tensor make(DType dt, std::vector<int64_t> shape, std::vector<T> v) {
  Tensor t(dt, std::move(shape));
  if (!v.empty()) std::memcpy(t.data(), v.data(), v.size() * sizeof(T));
  return t;
}

template <class T>
std::vector<T> values(const Tensor& t) {
  const T* p = t.data_as<T>();
  return std::vector<T>(p, p + t.numel());
}

Tensor run1(const std::string& op, const std::vector<Tensor>& in,
            const std::function<void(onnx::NodeProto&)>& attrs = {}, int opset = 21) {
  return run_op(op, in, 1, attrs, opset)[0];
}

// Applies `op` to x and checks every element against want(x) (in double).
template <class Want>
void expect_unary(const std::string& op, const Tensor& x, Want want,
                  const std::function<void(onnx::NodeProto&)>& attrs = {}, int opset = 21, double rtol = 1e-6) {
  Tensor y = run1(op, {x}, attrs, opset);
  ASSERT_EQ(y.shape(), x.shape());
  ASSERT_EQ(y.dtype(), x.dtype());
  for (int64_t i = 0; i < x.numel(); ++i) {
    double xv = x.dtype() == DType::Float32 ? x.data_as<float>()[i] : x.data_as<double>()[i];
    double got = y.dtype() == DType::Float32 ? y.data_as<float>()[i] : y.data_as<double>()[i];
    double w = want(xv);
    EXPECT_NEAR(got, w, 1e-6 + rtol * std::fabs(w)) << op << " at x = " << xv;
  }
}

Tensor sweep() { return make_f32({12}, {-20, -5, -2, -1, -0.5f, -1e-3f, 0, 1e-3f, 0.5f, 1, 3, 20}); }

TEST(Activation, FormulasWithDefaults) {
  Tensor x = sweep();
  expect_unary("Relu", x, [](double v) { return std::max(v, 0.0); });
  expect_unary("LeakyRelu", x, [](double v) { return v >= 0 ? v : 0.01 * v; });
  expect_unary("Elu", x, [](double v) { return v >= 0 ? v : std::exp(v) - 1; });
  const double a = 1.67326319217681884765625, g = 1.05070102214813232421875;
  expect_unary("Selu", x, [&](double v) { return v > 0 ? g * v : g * (a * std::exp(v) - a); });
  expect_unary("Celu", x, [](double v) { return std::max(0.0, v) + std::min(0.0, std::exp(v) - 1); });
  expect_unary("Sigmoid", x, [](double v) { return 1 / (1 + std::exp(-v)); });
  expect_unary("HardSigmoid", x, [](double v) { return std::clamp(0.2 * v + 0.5, 0.0, 1.0); });
  expect_unary("HardSwish", x, [](double v) { return v * std::clamp(v / 6 + 0.5, 0.0, 1.0); });
  expect_unary("Tanh", x, [](double v) { return std::tanh(v); });
  expect_unary("Softplus", x, [](double v) { return std::log(std::exp(v) + 1); });
  expect_unary("Softsign", x, [](double v) { return v / (1 + std::fabs(v)); });
  expect_unary("Mish", x, [](double v) { return v * std::tanh(std::log1p(std::exp(v))); });
  expect_unary("Erf", x, [](double v) { return std::erf(v); });
  expect_unary("Gelu", x, [](double v) { return 0.5 * v * (1 + std::erf(v / std::sqrt(2.0))); });
}

TEST(Activation, Attributes) {
  Tensor x = sweep();
  expect_unary("LeakyRelu", x, [](double v) { return v >= 0 ? v : 0.3 * v; },
               [](onnx::NodeProto& n) { attr(n, "alpha", 0.3f); });
  expect_unary("Elu", x, [](double v) { return v >= 0 ? v : 2 * (std::exp(v) - 1); },
               [](onnx::NodeProto& n) { attr(n, "alpha", 2.f); });
  expect_unary("Celu", x, [](double v) { return std::max(0.0, v) + std::min(0.0, 0.5 * (std::exp(v / 0.5) - 1)); },
               [](onnx::NodeProto& n) { attr(n, "alpha", 0.5f); });
  expect_unary("Celu", x, [](double v) { return std::max(0.0, v) + std::min(0.0, -2 * (std::exp(v / -2) - 1)); },
               [](onnx::NodeProto& n) { attr(n, "alpha", -2.f); });
  expect_unary("HardSigmoid", x, [](double v) { return std::clamp(0.1 * v + 0.6, 0.0, 1.0); },
               [](onnx::NodeProto& n) { attr(n, "alpha", 0.1f); attr(n, "beta", 0.6f); });
  expect_unary("Selu", x, [](double v) { return v > 0 ? 2 * v : 2 * (3 * std::exp(v) - 3); },
               [](onnx::NodeProto& n) { attr(n, "alpha", 3.f); attr(n, "gamma", 2.f); });
  expect_unary("Gelu", x, [](double v) {
    return 0.5 * v * (1 + std::tanh(std::sqrt(2 / M_PI) * (v + 0.044715 * v * v * v)));
  }, [](onnx::NodeProto& n) { attr(n, "approximate", std::string("tanh")); });
}

TEST(Activation, Float64) {
  Tensor x = make<double>(DType::Float64, {3}, {-1.5, 0.25, 4});
  expect_unary("Sigmoid", x, [](double v) { return 1 / (1 + std::exp(-v)); }, {}, 21, 1e-14);
  expect_unary("Gelu", x, [](double v) { return 0.5 * v * (1 + std::erf(v / std::sqrt(2.0))); }, {}, 21, 1e-14);
}

TEST(Activation, StableAtExtremes) {
  Tensor x = make_f32({4}, {-1000, -100, 100, 1000});
  auto sig = values<float>(run1("Sigmoid", {x}));
  EXPECT_EQ(sig, (std::vector<float>{0, std::exp(-100.f) / (1 + std::exp(-100.f)), 1, 1}));
  auto sp = values<float>(run1("Softplus", {x}));
  EXPECT_EQ(sp[0], 0);
  EXPECT_EQ(sp[3], 1000);
  auto mish = values<float>(run1("Mish", {x}));
  EXPECT_EQ(mish[3], 1000);
  EXPECT_FALSE(std::isnan(mish[0]));
  EXPECT_TRUE(std::isnan(values<float>(run1("Sigmoid", {make_f32({1}, {kNaN})}))[0]));
  EXPECT_EQ(values<float>(run1("Tanh", {make_f32({2}, {-kInf, kInf})})), (std::vector<float>{-1, 1}));
}

TEST(Activation, NaNPropagates) {
  Tensor x = make_f32({1}, {kNaN});
  for (const char* op : {"Relu", "LeakyRelu", "Elu", "Selu", "Celu", "Sigmoid", "HardSigmoid", "HardSwish", "Tanh",
                         "Softplus", "Softsign", "Mish", "Gelu", "Erf"})
    EXPECT_TRUE(std::isnan(values<float>(run1(op, {x}))[0])) << op;
  EXPECT_TRUE(std::isnan(values<float>(run1("PRelu", {x, make_f32({1}, {0.5f})}))[0]));
}

TEST(Activation, ReluIntegersFromOpset14) {
  Tensor i = make<int32_t>(DType::Int32, {3}, {-5, 0, 7});
  EXPECT_EQ(values<int32_t>(run1("Relu", {i}, {}, 14)), (std::vector<int32_t>{0, 0, 7}));
  EXPECT_THROW(run1("Relu", {i}, {}, 13), Error);
  EXPECT_THROW(run1("Relu", {make<uint8_t>(DType::UInt8, {1}, {1})}, {}, 14), Error);
  EXPECT_THROW(run1("Sigmoid", {i}), Error);
}

TEST(Activation, VersionGates) {
  EXPECT_THROW(run1("Gelu", {sweep()}, {}, 19), Error);   // Gelu arrives in opset 20
  EXPECT_THROW(run1("Mish", {sweep()}, {}, 17), Error);   // opset 18
  EXPECT_THROW(run1("HardSwish", {sweep()}, {}, 13), Error);  // opset 14
  // Opset 1 activations carry a legacy consumed_inputs attribute, which is ignored.
  expect_unary("Relu", sweep(), [](double v) { return std::max(v, 0.0); },
               [](onnx::NodeProto& n) { attr(n, "consumed_inputs", std::vector<int64_t>{0}); }, 1);
  // Selu opset 1 defaults.
  expect_unary("Selu", sweep(), [](double v) { return v > 0 ? 1.0507 * v : 1.0507 * (1.6732 * std::exp(v) - 1.6732); },
               {}, 1, 1e-5);
}

TEST(Activation, BadAttributesAreRefused) {
  EXPECT_THROW(run1("Gelu", {sweep()}, [](onnx::NodeProto& n) { attr(n, "approximate", std::string("erf")); }), Error);
  EXPECT_THROW(run1("Celu", {sweep()}, [](onnx::NodeProto& n) { attr(n, "alpha", 0.f); }), Error);
  EXPECT_THROW(run1("LeakyRelu", {sweep()}, [](onnx::NodeProto& n) { attr(n, "alpha", std::string("big")); }), Error);
}

// ---- PRelu ------------------------------------------------------------------------------------

TEST(ActivationPRelu, PerChannelSlope) {
  Tensor x = random_f32({2, 3, 4, 5}, 11);
  Tensor slope = make_f32({3, 1, 1}, {0.1f, 0.2f, 0.3f});
  Tensor y = run1("PRelu", {x, slope});
  ASSERT_EQ(y.shape(), x.shape());
  for (int64_t i = 0; i < x.numel(); ++i) {
    float v = x.data_as<float>()[i], s = slope.data_as<float>()[(i / 20) % 3];
    ASSERT_EQ(y.data_as<float>()[i], v >= 0 ? v : s * v) << i;
  }
  Tensor ys = run1("PRelu", {x, make_f32({1}, {0.5f})});
  for (int64_t i = 0; i < x.numel(); ++i) {
    float v = x.data_as<float>()[i];
    ASSERT_EQ(ys.data_as<float>()[i], v >= 0 ? v : 0.5f * v);
  }
}

TEST(ActivationPRelu, SlopeMustBroadcastToX) {
  Tensor x = random_f32({2, 3}, 1);
  EXPECT_THROW(run1("PRelu", {x, make_f32({2}, {1, 2})}), Error);          // trailing 2 vs 3
  EXPECT_THROW(run1("PRelu", {x, random_f32({4, 2, 3}, 2)}), Error);        // higher rank
  EXPECT_THROW(run1("PRelu", {make_f32({1}, {1}), make_f32({3}, {1, 2, 3})}), Error);  // would grow X
}

TEST(ActivationPRelu, IntegersFromOpset9) {
  Tensor x = make_i64({3}, {-4, 0, 4}), s = make_i64({1}, {3});
  EXPECT_EQ(values<int64_t>(run1("PRelu", {x, s})), (std::vector<int64_t>{-12, 0, 4}));
  EXPECT_THROW(run1("PRelu", {x, s}, {}, 8), Error);
}

// ---- Clip ---------------------------------------------------------------------------------------

TEST(ActivationClip, InputForm) {
  Tensor x = make_f32({6}, {-3, -1, 0, 1, 3, kNaN});
  Tensor lo = make_f32({}, {-1}), hi = make_f32({}, {2});
  auto both = values<float>(run1("Clip", {x, lo, hi}));
  EXPECT_EQ(std::vector<float>(both.begin(), both.end() - 1), (std::vector<float>{-1, -1, 0, 1, 2}));
  EXPECT_TRUE(std::isnan(both.back()));
  // Only max (min omitted as an empty name), only min, neither.
  auto only_max = values<float>(run1("Clip", {x, Tensor(), hi}));
  EXPECT_EQ(only_max[0], -3);
  EXPECT_EQ(only_max[4], 2);
  auto only_min = values<float>(run1("Clip", {x, lo}));
  EXPECT_EQ(only_min[0], -1);
  EXPECT_EQ(only_min[4], 3);
  Tensor inf = make_f32({1}, {-kInf});
  EXPECT_EQ(values<float>(run1("Clip", {inf}))[0], -kInf);
  // min > max: everything becomes max.
  EXPECT_EQ(values<float>(run1("Clip", {make_f32({3}, {-5, 0, 5}), make_f32({}, {2}), make_f32({}, {1})})),
            (std::vector<float>{1, 1, 1}));
}

TEST(ActivationClip, IntegersFromOpset12) {
  Tensor x = make<int8_t>(DType::Int8, {4}, {-128, -5, 5, 127});
  Tensor lo = make<int8_t>(DType::Int8, {}, {-10}), hi = make<int8_t>(DType::Int8, {1}, {10});
  EXPECT_EQ(values<int8_t>(run1("Clip", {x, lo, hi}, {}, 12)), (std::vector<int8_t>{-10, -5, 5, 10}));
  EXPECT_EQ(values<int8_t>(run1("Clip", {x, Tensor(), hi}, {}, 13)), (std::vector<int8_t>{-128, -5, 5, 10}));
  EXPECT_THROW(run1("Clip", {x, lo, hi}, {}, 11), Error);
}

TEST(ActivationClip, AttributeForms) {
  Tensor x = make_f32({3}, {-5, 0.5f, 5});
  auto attrs = [](onnx::NodeProto& n) {
    attr(n, "min", -1.f);
    attr(n, "max", 1.f);
  };
  EXPECT_EQ(values<float>(run1("Clip", {x}, attrs, 6)), (std::vector<float>{-1, 0.5f, 1}));
  EXPECT_EQ(values<float>(run1("Clip", {x}, attrs, 1)), (std::vector<float>{-1, 0.5f, 1}));
  // Opset 1 without attributes clips nothing; opset 6 defaults to ±3.402823e38.
  Tensor big = make<double>(DType::Float64, {2}, {-1e300, 1e300});
  EXPECT_EQ(values<double>(run1("Clip", {big}, {}, 1)), (std::vector<double>{-1e300, 1e300}));
  EXPECT_EQ(values<double>(run1("Clip", {big}, {}, 6)), (std::vector<double>{-3.402823e+38f, 3.402823e+38f}));
}

TEST(ActivationClip, BoundsMustBeScalarsOfXsDtype) {
  Tensor x = make_f32({3}, {1, 2, 3});
  EXPECT_THROW(run1("Clip", {x, make_f32({2}, {0, 1})}), Error);
  EXPECT_THROW(run1("Clip", {x, make<double>(DType::Float64, {}, {0})}), Error);
}

}  // namespace
}  // namespace kiln::test
