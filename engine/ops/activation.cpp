// Elementwise activations y = f(x), computed in the tensor's own float type.
// Attributes (alpha, beta, …) are read once per call. PRelu and Clip take
// extra inputs and have their own schemas below.
#include <cmath>
#include <limits>
#include <numbers>

#include "kernels/simd/activation.h"
#include "ops/elementwise_internal.h"

namespace kiln::ops {

namespace {

using namespace elementwise;

// ---- float32 SIMD path ------------------------------------------------------

// The profile name of the SIMD activation kernel on this CPU.
const char* activation_kernel_name() {
  static const std::string name = std::string("activation_f32_") + simd::best_arch_name();
  return name.c_str();
}

// y = act(x) over a float32 tensor with the SIMD kernel, split over threads.
void activation_simd(ComputeContext& ctx, const simd::ActParams& p, const Tensor& x, Tensor& y, int64_t grain) {
  const float* xp = x.data_as<float>();
  float* yp = y.data_as<float>();
  auto kernel = simd::dispatch(simd::activation_f32{});
  runtime::parallel_for(x.numel(), grain, [&](int64_t b, int64_t e) { kernel(p, xp + b, yp + b, e - b); });
  ctx.set_kernel(activation_kernel_name());
}

// add_unary (elementwise_internal.h) with a float32 fast path: act_of(node)
// gives the SIMD activation; other dtypes run the reference function.
template <bool Ints, class Make, class ActOf>
void add_activation(OpRegistry& r, const char* name, int since, int until, DTypes types, Make make, ActOf act_of,
                    int64_t grain = kGrain) {
  add_unary<Ints>(r, name, since, until, types, make, grain,
                  [act_of, grain](ComputeContext& ctx, const Tensor& x, Tensor& y) {
                    if (x.dtype() != DType::Float32) return false;
                    activation_simd(ctx, act_of(ctx.node()), x, y, grain);
                    return true;
                  });
}

// act_of for an activation without attributes.
auto simd_act(simd::Act kind) {
  return [kind](const ir::Node&) { return simd::ActParams{kind, 0.f, 0.f}; };
}

// Sigmoid 1 / (1 + e^-x) = e^x / (1 + e^x), written with e = e^-|x| so that
// exp never overflows, and without a data-dependent branch around exp.
template <class T>
T sigmoid(T x) {
  const T e = std::exp(-std::fabs(x));
  const T r = T(1) / (T(1) + e);
  return x >= 0 ? r : e * r;
}

// Softplus ln(1 + e^x) = max(x, 0) + ln(1 + e^-|x|), stable for large |x|.
template <class T>
T softplus(T x) {
  return (x > 0 ? x : T(0)) + std::log1p(std::exp(-std::fabs(x)));
}

// min(1, max(0, v)), with NaN staying NaN.
template <class T>
T clamp01(T v) {
  return v < 0 ? T(0) : (v > 1 ? T(1) : v);
}

void add_relu_family(OpRegistry& r) {
  // Relu: y = max(0, x) (NaN stays NaN); signed integers from opset 14.
  auto relu = plain([](auto x) { return x < 0 ? decltype(x)(0) : x; });
  add_activation<false>(r, "Relu", 1, 13, kFloats, relu, simd_act(simd::Act::Relu));
  add_activation<true>(r, "Relu", 14, 1000, kFloats + kSigned, relu, simd_act(simd::Act::Relu));

  // LeakyRelu: y = x for x >= 0, alpha·x otherwise.
  add_activation<false>(
      r, "LeakyRelu", 1, 1000, kFloats,
      [](const ir::Node& n) {
        float alpha = n.attr_float("alpha", 0.01f);
        return [alpha](auto x) { return x >= 0 ? x : static_cast<decltype(x)>(alpha) * x; };
      },
      [](const ir::Node& n) { return simd::ActParams{simd::Act::LeakyRelu, n.attr_float("alpha", 0.01f), 0.f}; });

  // Elu: y = x for x >= 0, alpha·(e^x − 1) otherwise.
  add_unary<false>(r, "Elu", 1, 1000, kFloats, [](const ir::Node& n) {
    float alpha = n.attr_float("alpha", 1.0f);
    return [alpha](auto x) { return x >= 0 ? x : static_cast<decltype(x)>(alpha) * std::expm1(x); };
  }, kGrainCostly);

  // Selu: y = gamma·x for x > 0, gamma·(alpha·e^x − alpha) otherwise. Opset 1
  // had shorter default constants.
  auto selu = [](float default_alpha, float default_gamma) {
    return [=](const ir::Node& n) {
      float alpha = n.attr_float("alpha", default_alpha), gamma = n.attr_float("gamma", default_gamma);
      return [alpha, gamma](auto x) {
        using T = decltype(x);
        return x > 0 ? T(gamma) * x : T(gamma) * (T(alpha) * std::exp(x) - T(alpha));
      };
    };
  };
  add_unary<false>(r, "Selu", 1, 5, kFloats, selu(1.6732f, 1.0507f), kGrainCostly);
  add_unary<false>(r, "Selu", 6, 1000, kFloats, selu(1.67326319217681884765625f, 1.05070102214813232421875f),
                   kGrainCostly);

  // Celu: y = max(0, x) + min(0, alpha·(e^(x/alpha) − 1)): one term is 0 on
  // each side of 0 (for alpha > 0), so y = x for x > 0, else the second term.
  // Opset 12 allows float32 only; opset 28 adds the other float types.
  auto celu = [](const ir::Node& n) {
    float alpha = n.attr_float("alpha", 1.0f);
    if (alpha == 0) throw Error(n.describe() + ": attribute alpha must be nonzero (it divides x)");
    return [alpha](auto x) {
      using T = decltype(x);
      if (alpha > 0) return x > 0 ? x : T(alpha) * std::expm1(x / T(alpha));
      T neg = T(alpha) * std::expm1(x / T(alpha));
      return (x > 0 ? x : T(0)) + (neg < 0 ? neg : T(0));
    };
  };
  add_unary<false>(r, "Celu", 12, 27, {DType::Float32}, celu, kGrainCostly);
  add_unary<false>(r, "Celu", 28, 1000, kFloats, celu, kGrainCostly);
}

void add_smooth_family(OpRegistry& r) {
  add_activation<false>(r, "Sigmoid", 1, 1000, kFloats, plain([](auto x) { return sigmoid(x); }),
                        simd_act(simd::Act::Sigmoid), kGrainCostly);
  add_activation<false>(r, "Tanh", 1, 1000, kFloats, plain([](auto x) { return std::tanh(x); }),
                        simd_act(simd::Act::Tanh), kGrainCostly);
  add_unary<false>(r, "Erf", 9, 1000, kFloats, plain([](auto x) { return std::erf(x); }), kGrainCostly);
  add_activation<false>(r, "Softplus", 1, 1000, kFloats, plain([](auto x) { return softplus(x); }),
                        simd_act(simd::Act::Softplus), kGrainCostly);
  // Softsign: x / (1 + |x|).
  add_unary<false>(r, "Softsign", 1, 1000, kFloats,
                   plain([](auto x) { return x / (decltype(x)(1) + std::fabs(x)); }));
  // Mish: x·tanh(softplus(x)).
  add_activation<false>(r, "Mish", 18, 1000, kFloats, plain([](auto x) { return x * std::tanh(softplus(x)); }),
                        simd_act(simd::Act::Mish), kGrainCostly);

  // HardSigmoid: max(0, min(1, alpha·x + beta)).
  add_activation<false>(
      r, "HardSigmoid", 1, 1000, kFloats,
      [](const ir::Node& n) {
        float alpha = n.attr_float("alpha", 0.2f), beta = n.attr_float("beta", 0.5f);
        return [alpha, beta](auto x) {
          using T = decltype(x);
          return clamp01(T(alpha) * x + T(beta));
        };
      },
      [](const ir::Node& n) {
        return simd::ActParams{simd::Act::HardSigmoid, n.attr_float("alpha", 0.2f), n.attr_float("beta", 0.5f)};
      });
  // HardSwish: x·max(0, min(1, x/6 + 1/2)).
  add_activation<false>(r, "HardSwish", 14, 1000, kFloats, plain([](auto x) {
    using T = decltype(x);
    return x * clamp01(x / T(6) + T(0.5));
  }), simd_act(simd::Act::HardSwish));

  // Gelu: x·Φ(x) = x/2·(1 + erf(x/√2)); approximate="tanh":
  // x/2·(1 + tanh(√(2/π)·(x + 0.044715·x³))).
  add_activation<false>(r, "Gelu", 20, 1000, kFloats, [](const ir::Node& n) {
    std::string approx = n.attr_string("approximate", "none");
    if (approx != "none" && approx != "tanh")
      throw Error(n.describe() + ": attribute approximate must be \"none\" or \"tanh\", got \"" + approx + "\"");
    const bool use_tanh = approx == "tanh";
    return [use_tanh](auto x) {
      using T = decltype(x);
      if (use_tanh) {
        const T k = static_cast<T>(std::sqrt(2.0 / std::numbers::pi));
        return T(0.5) * x * (T(1) + std::tanh(k * (x + T(0.044715) * x * x * x)));
      }
      return T(0.5) * x * (T(1) + std::erf(x * static_cast<T>(std::numbers::sqrt2 / 2)));
    };
  }, [](const ir::Node& n) {
    // The SIMD forms avoid the cancellation in 1 + erf / 1 + tanh for x ≪ 0 (activation_impl.h).
    const bool use_tanh = n.attr_string("approximate", "none") == "tanh";
    return simd::ActParams{use_tanh ? simd::Act::GeluTanh : simd::Act::Gelu, 0.f, 0.f};
  }, kGrainCostly);
}

// PRelu: y = x for x >= 0, slope·x otherwise, slope broadcast to X's shape
// (unidirectionally). Integer types from opset 9 multiply with wraparound.
void add_prelu(OpRegistry& r) {
  struct Version {
    int since, until;
    DTypes types;
  };
  for (const Version& v : {Version{1, 8, kFloats}, Version{9, 1000, kFloats + kInt32_64}}) {
    OpSchema s;
    s.op_type = "PRelu";
    s.since_version = v.since;
    s.until_version = v.until;
    s.min_inputs = s.max_inputs = 2;
    s.infer = [types = v.types](InferContext& ctx) {
      check_dtype(ctx, 0, types);
      require_same_dtype(ctx, 0, 1);
      check_unidirectional(ctx, in_shape(ctx, 1), in_shape(ctx, 0), "slope");
      ctx.set_output(0, ctx.input(0).dtype, in_shape(ctx, 0));
    };
    s.compute = [](ComputeContext& ctx) {
      const Tensor& x = ctx.input(0);
      const Tensor& slope = ctx.input(1);
      check_unidirectional(ctx, slope.shape(), x.shape(), "slope");
      Tensor& y = ctx.allocate_output(0, x.dtype(), x.shape());
      dispatch_numeric(x.dtype(), ctx, [&](auto tag) {
        using T = decltype(tag);
        binary_apply(x.data_as<T>(), x.shape(), slope.data_as<T>(), slope.shape(), y.data_as<T>(), x.shape(),
                     [](T v, T a) -> T {
                       if (v >= 0) return v;
                       if constexpr (std::is_integral_v<T>)
                         return static_cast<T>(static_cast<wrap_t<T>>(v) * static_cast<wrap_t<T>>(a));
                       else return a * v;
                     });
      });
    };
    r.add(std::move(s));
  }
}

// Clip: y = min(max(x, lo), hi); when lo > hi every element becomes hi; NaN
// stays NaN. Opset 1: optional float attributes min/max (absent = no bound);
// opset 6: the same with defaults ∓3.402823e38; opset 11: optional scalar
// inputs min/max of x's dtype; opset 12: integer types too.
void add_clip(OpRegistry& r) {
  auto clip = [](ComputeContext& ctx, auto lo, auto hi) {
    using T = decltype(lo);
    const Tensor& x = ctx.input(0);
    Tensor& y = ctx.allocate_output(0, x.dtype(), x.shape());
    if constexpr (std::is_same_v<T, float>) {
      activation_simd(ctx, simd::ActParams{simd::Act::Clip, lo, hi}, x, y, kGrain);
      return;
    }
    unary_apply(x.data_as<T>(), y.data_as<T>(), x.numel(), [lo, hi](T v) {
      T t = v < lo ? lo : v;
      return t > hi ? hi : t;
    });
  };

  // Attribute forms (opset 1–10).
  for (int since : {1, 6}) {
    OpSchema s;
    s.op_type = "Clip";
    s.since_version = since;
    s.until_version = since == 1 ? 5 : 10;
    s.min_inputs = s.max_inputs = 1;
    s.infer = [](InferContext& ctx) {
      check_dtype(ctx, 0, kFloats);
      ctx.set_output(0, ctx.input(0).dtype, in_shape(ctx, 0));
    };
    s.compute = [clip, since](ComputeContext& ctx) {
      const float unbounded = since == 1 ? std::numeric_limits<float>::infinity() : 3.402823e+38f;
      const double lo = ctx.node().attr_float("min", -unbounded), hi = ctx.node().attr_float("max", unbounded);
      dispatch_float(ctx.input(0).dtype(), ctx, [&](auto tag) {
        using T = decltype(tag);
        clip(ctx, static_cast<T>(lo), static_cast<T>(hi));
      });
    };
    r.add(std::move(s));
  }

  // Input forms (opset 11+).
  for (int since : {11, 12}) {
    OpSchema s;
    s.op_type = "Clip";
    s.since_version = since;
    s.until_version = since == 11 ? 11 : 1000;
    s.min_inputs = 1;
    s.max_inputs = 3;
    s.infer = [types = since == 11 ? kFloats : kNumeric](InferContext& ctx) {
      check_dtype(ctx, 0, types);
      for (size_t i = 1; i < ctx.num_inputs(); ++i) {
        if (!ctx.has_input(i)) continue;
        require_same_dtype(ctx, 0, i);
        const ir::Shape& sh = in_shape(ctx, i);
        if (sh.fully_known() && checked_numel(sh.dims) != 1)
          ctx.fail(std::string(i == 1 ? "min" : "max") + " must be a scalar, got shape " + sh.str());
      }
      ctx.set_output(0, ctx.input(0).dtype, in_shape(ctx, 0));
    };
    s.compute = [clip](ComputeContext& ctx) {
      dispatch_numeric(ctx.input(0).dtype(), ctx, [&](auto tag) {
        using T = decltype(tag);
        // Without a bound, use the type's extremes (±inf for floats) so nothing is clipped.
        T lo = std::numeric_limits<T>::has_infinity ? -std::numeric_limits<T>::infinity()
                                                     : std::numeric_limits<T>::lowest();
        T hi = std::numeric_limits<T>::has_infinity ? std::numeric_limits<T>::infinity()
                                                     : std::numeric_limits<T>::max();
        for (size_t i = 1; i < 3; ++i) {
          if (!ctx.has_input(i)) continue;
          const Tensor& b = ctx.input(i);
          if (b.numel() != 1)
            ctx.fail(std::string(i == 1 ? "min" : "max") + " must be a scalar, got shape " + shape_to_string(b.shape()));
          (i == 1 ? lo : hi) = b.data_as<T>()[0];
        }
        clip(ctx, lo, hi);
      });
    };
    r.add(std::move(s));
  }
}

}  // namespace

void register_activation_ops(OpRegistry& r) {
  add_relu_family(r);
  add_smooth_family(r);
  add_prelu(r);
  add_clip(r);
}

}  // namespace kiln::ops
