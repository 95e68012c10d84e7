// The ops' float32 SIMD paths: each op is run through its registered compute
// on shapes that take the fast path, the kernel it reports is checked, and the
// result is compared with the reference kernels (the ground truth).
#include <gtest/gtest.h>

#include <cmath>
#include <memory>

#include "ir/graph.h"
#include "kernels/reference/conv.h"
#include "kernels/reference/normalization.h"
#include "ops/op.h"
#include "support/test_util.h"

namespace kiln::test {
namespace {

// A node built by hand and run through OpRegistry's compute.
struct OpCall {
  ir::Node node;
  std::vector<std::unique_ptr<ir::Value>> values;
  std::string kernel;

  OpCall(const std::string& domain, const std::string& op, int opset, size_t outputs) {
    node.name = "n";
    node.domain = domain;
    node.op_type = op;
    node.opset = opset;
    for (size_t i = 0; i < outputs; ++i) {
      values.push_back(std::make_unique<ir::Value>());
      node.outputs.push_back(values.back().get());
    }
  }
  OpCall& i(const std::string& name, int64_t v) {
    ir::Attribute a;
    a.kind = ir::Attribute::Kind::Int;
    a.i = v;
    node.attributes[name] = a;
    return *this;
  }
  OpCall& f(const std::string& name, float v) {
    ir::Attribute a;
    a.kind = ir::Attribute::Kind::Float;
    a.f = v;
    node.attributes[name] = a;
    return *this;
  }
  OpCall& s(const std::string& name, const std::string& v) {
    ir::Attribute a;
    a.kind = ir::Attribute::Kind::String;
    a.s = v;
    node.attributes[name] = a;
    return *this;
  }
  OpCall& ints(const std::string& name, std::vector<int64_t> v) {
    ir::Attribute a;
    a.kind = ir::Attribute::Kind::Ints;
    a.ints = std::move(v);
    node.attributes[name] = a;
    return *this;
  }
  std::vector<Tensor> run(const std::vector<const Tensor*>& inputs) {
    const ops::OpSchema* schema = ops::OpRegistry::instance().find(node.domain, node.op_type, node.opset);
    EXPECT_NE(schema, nullptr);
    std::vector<Tensor> out(node.outputs.size());
    ops::ComputeContext ctx(node, inputs, out, 2);
    schema->compute(ctx);
    kernel = ctx.kernel();
    return out;
  }
};

bool starts_with(const std::string& s, const std::string& p) { return s.compare(0, p.size(), p) == 0; }

// Reference depthwise conv (im2col + GEMM, double accumulation) of every plane.
Tensor reference_dwconv(const Tensor& x, const Tensor& w, const Tensor& b, int64_t K, int64_t S, int64_t pad) {
  const auto& xs = x.shape();
  kernels::ref::ConvShape s;
  s.batch = xs[0];
  s.in_channels = s.out_channels = s.group = xs[1];
  s.in_spatial = {xs[2], xs[3]};
  s.out_spatial = {(xs[2] + 2 * pad - K) / S + 1, (xs[3] + 2 * pad - K) / S + 1};
  s.kernel = {K, K};
  s.strides = {S, S};
  s.dilations = {1, 1};
  s.pads_begin = {pad, pad};
  Tensor y = random_f32({xs[0], xs[1], s.out_spatial[0], s.out_spatial[1]}, 0);
  kernels::ref::conv_f32(s, x.data_as<float>(), w.data_as<float>(), b.data_as<float>(), y.data_as<float>());
  return y;
}

TEST(SimdPaths, DepthwiseConvTakesTheDirectKernel) {
  for (int64_t K : {3, 5})
    for (int64_t S : {1, 2})
      for (int64_t pad : {0, 1, 2}) {
        const int64_t C = 7;
        Tensor x = random_f32({2, C, 13, 19}, 1), w = random_f32({C, 1, K, K}, 2), b = random_f32({C}, 3);
        OpCall call("", "Conv", 13, 1);
        call.i("group", C).ints("kernel_shape", {K, K}).ints("strides", {S, S}).ints("pads", {pad, pad, pad, pad});
        std::vector<Tensor> y = call.run({&x, &w, &b});
        const std::string want_kernel = "dwconv" + std::to_string(K) + "x" + std::to_string(K) + (S == 2 ? "s2_" : "_");
        EXPECT_TRUE(starts_with(call.kernel, want_kernel)) << call.kernel;
        EXPECT_EQ(compare_tensors(y[0], reference_dwconv(x, w, b, K, S, pad), 1e-5, 1e-5), "")
            << "K " << K << " S " << S << " pad " << pad;
      }
}

TEST(SimdPaths, DepthwiseConvOutsideTheKernelUsesTheReference) {
  Tensor x = random_f32({1, 4, 9, 9}, 1), w = random_f32({4, 1, 3, 3}, 2), b = random_f32({4}, 3);
  OpCall call("", "Conv", 13, 1);
  call.i("group", 4).ints("dilations", {2, 2});
  call.run({&x, &w, &b});
  EXPECT_EQ(call.kernel, "reference");
}

TEST(SimdPaths, FusedDepthwiseConvAppliesItsEpilogueInKernel) {
  const int64_t C = 5;
  Tensor x = random_f32({1, C, 17, 17}, 4), w = random_f32({C, 1, 3, 3}, 5), b = random_f32({C}, 6);
  Tensor z = random_f32({1, C, 17, 17}, 7);
  for (const char* act : {"Relu", "Clip", "HardSwish", "Sigmoid"}) {
    OpCall call("kiln", "FusedConv", 1, 1);
    call.i("group", C).ints("pads", {1, 1, 1, 1}).s("kiln.activation", act).i("kiln.residual", 3);
    call.f("kiln.activation_alpha", 0.f).f("kiln.activation_beta", 0.5f);
    std::vector<Tensor> y = call.run({&x, &w, &b, &z});
    EXPECT_TRUE(starts_with(call.kernel, "dwconv3x3_")) << call.kernel;
    Tensor want = reference_dwconv(x, w, b, 3, 1, 1);
    float* p = want.data_as<float>();
    for (int64_t i = 0; i < want.numel(); ++i) {
      const double v = static_cast<double>(p[i]) + z.data_as<float>()[i];
      double r = v;
      if (std::string(act) == "Relu") r = v > 0 ? v : 0;
      else if (std::string(act) == "Clip") r = std::min(std::max(v, 0.0), 0.5);
      else if (std::string(act) == "HardSwish") r = v * std::min(1.0, std::max(0.0, v / 6 + 0.5));
      else r = 1 / (1 + std::exp(-v));
      p[i] = static_cast<float>(r);
    }
    EXPECT_EQ(compare_tensors(y[0], want, 1e-5, 1e-5), "") << act;
  }
}

// A FusedConv with an input map (kiln.prologue) run on its own, with no
// prepared weights: X is mapped into scratch, then convolved as usual.
TEST(SimdPaths, FusedConvInputMapWithoutPreparedWeights) {
  const int64_t C = 6, M = 4;
  Tensor x = random_f32({2, C, 5, 5}, 4), w = random_f32({M, C, 1, 1}, 5), b = random_f32({M}, 6);
  Tensor scale = random_f32({C}, 7, 0.5f, 1.5f), shift = random_f32({C}, 8);
  for (const char* map : {"None", "Relu"}) {
    OpCall call("kiln", "FusedConv", 1, 1);
    call.s("kiln.prologue", map);
    std::vector<Tensor> y = call.run({&x, &w, &b, nullptr, &scale, &shift});
    // The same convolution of the mapped X, by the reference.
    Tensor xm = x.clone();
    for (int64_t i = 0; i < xm.numel(); ++i) {
      const int64_t c = (i / 25) % C;
      float v = std::fma(x.data_as<float>()[i], scale.data_as<float>()[c], shift.data_as<float>()[c]);
      if (std::string(map) == "Relu" && v < 0.f) v = 0.f;
      xm.data_as<float>()[i] = v;
    }
    kernels::ref::ConvShape s;
    s.batch = 2;
    s.in_channels = C;
    s.out_channels = M;
    s.group = 1;
    s.in_spatial = s.out_spatial = {5, 5};
    s.kernel = s.strides = s.dilations = {1, 1};
    s.pads_begin = {0, 0};
    Tensor want = random_f32({2, M, 5, 5}, 0);
    kernels::ref::conv_f32(s, xm.data_as<float>(), w.data_as<float>(), b.data_as<float>(), want.data_as<float>());
    EXPECT_EQ(compare_tensors(y[0], want, 1e-5, 1e-5), "") << map;
  }
  // A scale of another channel count is refused.
  Tensor short_scale = random_f32({C - 1}, 9);
  OpCall bad("kiln", "FusedConv", 1, 1);
  bad.s("kiln.prologue", "Relu");
  EXPECT_THROW(bad.run({&x, &w, &b, nullptr, &short_scale, &shift}), Error);
}

TEST(SimdPaths, BinaryBroadcastsRunTheSimdKernel) {
  Tensor a = random_f32({2, 3, 5, 7}, 1), ch = random_f32({1, 3, 1, 1}, 2, 0.5f, 2.f), sc = random_f32({}, 3, 1.f, 2.f);
  for (const char* op : {"Add", "Sub", "Mul", "Div"}) {
    for (const Tensor* b : {&a, &ch, &sc}) {
      OpCall call("", op, 14, 1);
      std::vector<Tensor> y = call.run({&a, b});
      EXPECT_TRUE(starts_with(call.kernel, "binary_f32_")) << call.kernel;
      const float* pa = a.data_as<float>();
      const float* pb = b->data_as<float>();
      for (int64_t i = 0; i < a.numel(); ++i) {
        const float bv = b->numel() == 1 ? pb[0] : b->numel() == 3 ? pb[(i / 35) % 3] : pb[i];
        const std::string o = op;
        const float want = o == "Add" ? pa[i] + bv : o == "Sub" ? pa[i] - bv : o == "Mul" ? pa[i] * bv : pa[i] / bv;
        ASSERT_EQ(y[0].data_as<float>()[i], want) << op << " i " << i;
      }
    }
  }
}

TEST(SimdPaths, ActivationsRunTheSimdKernel) {
  Tensor x = random_f32({3, 37}, 1, -8.f, 8.f);
  for (const char* op : {"Relu", "LeakyRelu", "Sigmoid", "Tanh", "HardSigmoid", "HardSwish", "Softplus"}) {
    OpCall call("", op, 18, 1);
    std::vector<Tensor> y = call.run({&x});
    EXPECT_TRUE(starts_with(call.kernel, "activation_f32_")) << op << ": " << call.kernel;
  }
  // Clip (opset 13, inputs) in full: values within the bounds pass unchanged.
  Tensor lo = make_f32({}, {-1.f}), hi = make_f32({}, {2.f});
  OpCall clip("", "Clip", 13, 1);
  std::vector<Tensor> y = clip.run({&x, &lo, &hi});
  EXPECT_TRUE(starts_with(clip.kernel, "activation_f32_")) << clip.kernel;
  for (int64_t i = 0; i < x.numel(); ++i)
    ASSERT_EQ(y[0].data_as<float>()[i], std::min(std::max(x.data_as<float>()[i], -1.f), 2.f));
}

TEST(SimdPaths, SoftmaxLastAxisAndGlobalPools) {
  Tensor x = random_f32({4, 6, 33}, 1, -5.f, 5.f);
  for (bool log : {false, true}) {
    OpCall call("", log ? "LogSoftmax" : "Softmax", 13, 1);
    call.i("axis", -1);
    std::vector<Tensor> y = call.run({&x});
    EXPECT_TRUE(starts_with(call.kernel, "softmax_row_f32_")) << call.kernel;
    for (int64_t r = 0; r < 24; ++r) {
      const float* xr = x.data_as<float>() + r * 33;
      double m = -1e30, s = 0;
      for (int k = 0; k < 33; ++k) m = std::max(m, double(xr[k]));
      for (int k = 0; k < 33; ++k) s += std::exp(xr[k] - m);
      for (int k = 0; k < 33; ++k) {
        const double want = log ? xr[k] - m - std::log(s) : std::exp(xr[k] - m) / s;
        ASSERT_NEAR(y[0].data_as<float>()[r * 33 + k], want, 1e-6 + 1e-5 * std::fabs(want));
      }
    }
  }
  Tensor p = random_f32({2, 3, 9, 11}, 2);
  OpCall avg("", "GlobalAveragePool", 13, 1), mx("", "GlobalMaxPool", 13, 1);
  std::vector<Tensor> ya = avg.run({&p}), ym = mx.run({&p});
  EXPECT_TRUE(starts_with(avg.kernel, "global_avg_f32_")) << avg.kernel;
  EXPECT_TRUE(starts_with(mx.kernel, "global_max_f32_")) << mx.kernel;
  for (int64_t c = 0; c < 6; ++c) {
    const float* pc = p.data_as<float>() + c * 99;
    double s = 0;
    float m = pc[0];
    for (int k = 0; k < 99; ++k) s += pc[k], m = std::max(m, pc[k]);
    EXPECT_NEAR(ya[0].data_as<float>()[c], s / 99, 1e-6);
    EXPECT_EQ(ym[0].data_as<float>()[c], m);
  }
}

TEST(SimdPaths, BatchNormAffineAndTrainingStatistics) {
  const int64_t N = 3, C = 5, S = 41;
  Tensor x = random_f32({N, C, S}, 1, -2.f, 3.f), scale = random_f32({C}, 2), bias = random_f32({C}, 3);
  Tensor mean = random_f32({C}, 4), var = random_f32({C}, 5, 0.5f, 2.f);
  for (bool training : {false, true}) {
    OpCall call("", "BatchNormalization", 15, training ? 3 : 1);
    call.i("training_mode", training ? 1 : 0);
    std::vector<Tensor> y = call.run({&x, &scale, &bias, &mean, &var});
    EXPECT_TRUE(starts_with(call.kernel, "affine_f32_")) << call.kernel;
    for (int64_t c = 0; c < C; ++c) {
      kernels::ref::Moments m{mean.data_as<float>()[c], var.data_as<float>()[c]};
      if (training) m = kernels::ref::group_moments(x.data_as<float>() + c * S, N, C * S, S);
      const double s = scale.data_as<float>()[c] / std::sqrt(m.var + 1e-5), t = bias.data_as<float>()[c] - m.mean * s;
      for (int64_t n = 0; n < N; ++n)
        for (int64_t i = 0; i < S; ++i) {
          const int64_t k = (n * C + c) * S + i;
          ASSERT_NEAR(y[0].data_as<float>()[k], x.data_as<float>()[k] * s + t, 1e-5);
        }
      if (training) {
        // Running statistics from the batch moments (momentum 0.9).
        EXPECT_NEAR(y[1].data_as<float>()[c], mean.data_as<float>()[c] * 0.9 + m.mean * 0.1, 1e-6);
        EXPECT_NEAR(y[2].data_as<float>()[c], var.data_as<float>()[c] * 0.9 + m.var * 0.1, 1e-6);
      }
    }
  }
}

}  // namespace
}  // namespace kiln::test
