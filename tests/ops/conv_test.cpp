// Conv and ConvTranspose against direct-loop definitions written here, over
// random sizes that hit groups, depthwise, dilations, strides, asymmetric pads,
// 1-D/2-D/3-D, auto_pad and output_shape; plus shape inference over partial
// shapes and the errors on inconsistent inputs.
#include <gtest/gtest.h>

#include <random>
#include <sstream>

#include "support/model_builder.h"
#include "support/test_util.h"

namespace kiln::test {
namespace {

// One convolution problem: r spatial axes (1..3), pads as ONNX lists them
// ([begins..., ends...]).
struct Problem {
  int64_t N = 1, C = 1, M = 1, G = 1;
  std::vector<int64_t> in, k, s, d, pads;
  std::vector<int64_t> output_padding;  // ConvTranspose only
  bool bias = false;
  size_t r() const { return in.size(); }
};

// The spatial axes padded to three (extent 1, kernel 1, stride 1, no pad) so
// one triple loop serves 1-D, 2-D and 3-D.
struct Axes3 {
  int64_t in[3], k[3], s[3], d[3], pb[3], out[3];
};
Axes3 to3(const Problem& p, const std::vector<int64_t>& out) {
  Axes3 a{};
  size_t off = 3 - p.r();
  for (size_t i = 0; i < 3; ++i) {
    bool real = i >= off;
    size_t j = i - off;
    a.in[i] = real ? p.in[j] : 1;
    a.k[i] = real ? p.k[j] : 1;
    a.s[i] = real ? p.s[j] : 1;
    a.d[i] = real ? p.d[j] : 1;
    a.pb[i] = real ? p.pads[j] : 0;
    a.out[i] = real ? out[j] : 1;
  }
  return a;
}

std::vector<int64_t> conv_out_dims(const Problem& p) {
  std::vector<int64_t> out;
  for (size_t i = 0; i < p.r(); ++i)
    out.push_back((p.in[i] + p.pads[i] + p.pads[i + p.r()] - ((p.k[i] - 1) * p.d[i] + 1)) / p.s[i] + 1);
  return out;
}

std::vector<int64_t> cat(std::vector<int64_t> a, const std::vector<int64_t>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

// Y[n, m, o] = B[m] + Σ_c Σ_k W[m, c, k] · X[n, g·Cg + c, o·s + k·d − p], straight from the definition.
Tensor naive_conv(const Problem& p, const Tensor& x, const Tensor& w, const Tensor* b) {
  std::vector<int64_t> out = conv_out_dims(p);
  Axes3 a = to3(p, out);
  Tensor y(DType::Float32, cat({p.N, p.M}, out));
  const float* X = x.data_as<float>();
  const float* W = w.data_as<float>();
  float* Y = y.data_as<float>();
  const int64_t Cg = p.C / p.G, Mg = p.M / p.G;
  for (int64_t n = 0; n < p.N; ++n)
    for (int64_t m = 0; m < p.M; ++m)
      for (int64_t o0 = 0; o0 < a.out[0]; ++o0)
        for (int64_t o1 = 0; o1 < a.out[1]; ++o1)
          for (int64_t o2 = 0; o2 < a.out[2]; ++o2) {
            double acc = b ? b->data_as<float>()[m] : 0.0;
            const int64_t g = m / Mg;
            for (int64_t c = 0; c < Cg; ++c)
              for (int64_t k0 = 0; k0 < a.k[0]; ++k0)
                for (int64_t k1 = 0; k1 < a.k[1]; ++k1)
                  for (int64_t k2 = 0; k2 < a.k[2]; ++k2) {
                    int64_t i0 = o0 * a.s[0] + k0 * a.d[0] - a.pb[0];
                    int64_t i1 = o1 * a.s[1] + k1 * a.d[1] - a.pb[1];
                    int64_t i2 = o2 * a.s[2] + k2 * a.d[2] - a.pb[2];
                    if (i0 < 0 || i0 >= a.in[0] || i1 < 0 || i1 >= a.in[1] || i2 < 0 || i2 >= a.in[2]) continue;
                    double xv = X[(((n * p.C + g * Cg + c) * a.in[0] + i0) * a.in[1] + i1) * a.in[2] + i2];
                    double wv = W[(((m * Cg + c) * a.k[0] + k0) * a.k[1] + k1) * a.k[2] + k2];
                    acc += xv * wv;
                  }
            Y[(((n * p.M + m) * a.out[0] + o0) * a.out[1] + o1) * a.out[2] + o2] = static_cast<float>(acc);
          }
  return y;
}

// ConvTranspose by its definition: every X[n, g·Cg + c, i] scatters
// X · W[g·Cg + c, m, k] to Y[n, g·Mg + m, i·s + k·d − p] (dropped outside Y), then + B.
Tensor naive_conv_transpose(const Problem& p, const std::vector<int64_t>& out, const Tensor& x, const Tensor& w,
                            const Tensor* b) {
  Axes3 a = to3(p, out);
  std::vector<double> acc(static_cast<size_t>(p.N * p.M * a.out[0] * a.out[1] * a.out[2]), 0.0);
  const float* X = x.data_as<float>();
  const float* W = w.data_as<float>();
  const int64_t Cg = p.C / p.G, Mg = p.M / p.G;
  for (int64_t n = 0; n < p.N; ++n)
    for (int64_t ci = 0; ci < p.C; ++ci)
      for (int64_t i0 = 0; i0 < a.in[0]; ++i0)
        for (int64_t i1 = 0; i1 < a.in[1]; ++i1)
          for (int64_t i2 = 0; i2 < a.in[2]; ++i2) {
            double xv = X[(((n * p.C + ci) * a.in[0] + i0) * a.in[1] + i1) * a.in[2] + i2];
            const int64_t g = ci / Cg;
            for (int64_t m = 0; m < Mg; ++m)
              for (int64_t k0 = 0; k0 < a.k[0]; ++k0)
                for (int64_t k1 = 0; k1 < a.k[1]; ++k1)
                  for (int64_t k2 = 0; k2 < a.k[2]; ++k2) {
                    int64_t o0 = i0 * a.s[0] + k0 * a.d[0] - a.pb[0];
                    int64_t o1 = i1 * a.s[1] + k1 * a.d[1] - a.pb[1];
                    int64_t o2 = i2 * a.s[2] + k2 * a.d[2] - a.pb[2];
                    if (o0 < 0 || o0 >= a.out[0] || o1 < 0 || o1 >= a.out[1] || o2 < 0 || o2 >= a.out[2]) continue;
                    double wv = W[(((ci * Mg + m) * a.k[0] + k0) * a.k[1] + k1) * a.k[2] + k2];
                    acc[(((n * p.M + g * Mg + m) * a.out[0] + o0) * a.out[1] + o1) * a.out[2] + o2] += xv * wv;
                  }
          }
  Tensor y(DType::Float32, cat({p.N, p.M}, out));
  const int64_t osp = a.out[0] * a.out[1] * a.out[2];
  for (int64_t i = 0; i < y.numel(); ++i)
    y.data_as<float>()[i] = static_cast<float>(acc[i] + (b ? b->data_as<float>()[(i / osp) % p.M] : 0.0));
  return y;
}

std::vector<int64_t> convt_out_dims(const Problem& p) {
  std::vector<int64_t> out;
  for (size_t i = 0; i < p.r(); ++i)
    out.push_back(p.s[i] * (p.in[i] - 1) + p.output_padding[i] + (p.k[i] - 1) * p.d[i] + 1 - p.pads[i] -
                  p.pads[i + p.r()]);
  return out;
}

void expect_close(const Tensor& got, const Tensor& want, const std::string& what) {
  ASSERT_EQ(got.shape(), want.shape()) << what;
  std::string diff = compare_tensors(got, want, 1e-4, 1e-4);
  EXPECT_EQ(diff, "") << what;
}

std::string describe(const Problem& p) {
  std::ostringstream os;
  auto l = [&](const char* name, const std::vector<int64_t>& v) {
    os << ' ' << name << '[';
    for (int64_t e : v) os << e << ',';
    os << ']';
  };
  os << "N" << p.N << " C" << p.C << " M" << p.M << " G" << p.G;
  l("in", p.in), l("k", p.k), l("s", p.s), l("d", p.d), l("pads", p.pads), l("op", p.output_padding);
  if (p.bias) os << " bias";
  return os.str();
}

// A random problem whose every output axis is non-empty.
Problem random_problem(std::mt19937& rng, bool transpose) {
  auto uni = [&](int64_t lo, int64_t hi) { return std::uniform_int_distribution<int64_t>(lo, hi)(rng); };
  Problem p;
  const size_t r = static_cast<size_t>(uni(1, 3));
  p.N = uni(1, 2);
  p.G = uni(1, 3);
  const bool depthwise = !transpose && uni(0, 3) == 0;
  p.C = p.G * (depthwise ? 1 : uni(1, 3));
  p.M = p.G * (depthwise ? 1 : uni(1, 3));
  p.bias = uni(0, 1) == 1;
  p.pads.assign(2 * r, 0);
  for (size_t i = 0; i < r; ++i) {
    p.k.push_back(uni(1, 3));
    p.s.push_back(uni(1, 3));
    p.d.push_back(uni(1, 2));
    p.pads[i] = uni(0, 2);
    p.pads[i + r] = uni(0, 2);
    int64_t dk = (p.k[i] - 1) * p.d[i] + 1;
    // Conv needs in + pads >= dk; keep sizes small for 3-D.
    int64_t lo = std::max<int64_t>(1, dk - p.pads[i] - p.pads[i + r]);
    p.in.push_back(uni(lo, lo + (r == 3 ? 3 : 6)));
    p.output_padding.push_back(transpose ? uni(0, std::max(p.s[i], p.d[i]) - 1) : 0);
  }
  if (transpose) {  // keep every output extent positive
    std::vector<int64_t> out = convt_out_dims(p);
    for (size_t i = 0; i < r; ++i)
      if (out[i] <= 0) p.pads[i] = p.pads[i + r] = 0;
  }
  return p;
}

Tensor weights(const Problem& p, bool transpose, uint32_t seed) {
  std::vector<int64_t> shape = transpose ? std::vector<int64_t>{p.C, p.M / p.G} : std::vector<int64_t>{p.M, p.C / p.G};
  return random_f32(cat(shape, p.k), seed);
}

auto conv_attrs(const Problem& p, bool with_kernel_shape) {
  return [p, with_kernel_shape](onnx::NodeProto& n) {
    attr(n, "group", p.G);
    attr(n, "strides", p.s);
    attr(n, "dilations", p.d);
    attr(n, "pads", p.pads);
    if (with_kernel_shape) attr(n, "kernel_shape", p.k);
  };
}

TEST(Conv, MatchesDirectLoopsOnRandomProblems) {
  std::mt19937 rng(1234);
  for (int t = 0; t < 60; ++t) {
    Problem p = random_problem(rng, false);
    Tensor x = random_f32(cat({p.N, p.C}, p.in), 10 + t);
    Tensor w = weights(p, false, 100 + t);
    Tensor b = random_f32({p.M}, 1000 + t);
    std::vector<Tensor> in{x, w};
    if (p.bias) in.push_back(b);
    Tensor got = run_op("Conv", in, 1, conv_attrs(p, t % 2 == 0))[0];
    expect_close(got, naive_conv(p, x, w, p.bias ? &b : nullptr), describe(p));
  }
}

TEST(Conv, LargerProblemsSpanManyColumnBlocksAndThreads) {
  // 2-D 3x3 over 40x40 with 8 input channels: more output columns than one
  // im2col block; depthwise 5x5 with stride; a pointwise 1x1 (no im2col);
  // a small map with many output channels (split across tasks).
  std::vector<Problem> ps(3);
  ps[0].C = 8, ps[0].M = 12, ps[0].in = {40, 40}, ps[0].k = {3, 3}, ps[0].s = {1, 1}, ps[0].d = {1, 1};
  ps[0].pads = {1, 1, 1, 1}, ps[0].bias = true;
  ps[1].N = 2, ps[1].C = ps[1].M = ps[1].G = 6, ps[1].in = {33, 29}, ps[1].k = {5, 5}, ps[1].s = {2, 2};
  ps[1].d = {1, 1}, ps[1].pads = {2, 2, 2, 2};
  ps[2].C = 16, ps[2].M = 8, ps[2].in = {30, 30}, ps[2].k = {1, 1}, ps[2].s = {1, 1}, ps[2].d = {1, 1};
  ps[2].pads = {0, 0, 0, 0}, ps[2].bias = true;
  Problem late;
  late.C = 32, late.M = 48, late.in = {6, 6}, late.k = {3, 3}, late.s = {1, 1}, late.d = {1, 1};
  late.pads = {1, 1, 1, 1}, late.bias = true;
  ps.push_back(late);
  for (size_t i = 0; i < ps.size(); ++i) {
    const Problem& p = ps[i];
    Tensor x = random_f32(cat({p.N, p.C}, p.in), 7 + i);
    Tensor w = weights(p, false, 8 + i);
    Tensor b = random_f32({p.M}, 9 + i);
    ModelBuilder mb;
    mb.input("x", DType::Float32, x.shape()).initializer("w", w).initializer("b", b).output("y");
    conv_attrs(p, false)(mb.node("Conv", {"x", "w", p.bias ? "b" : ""}, {"y"}));
    SessionOptions one, two;
    one.threads = 1;
    two.threads = 2;
    Tensor y1 = mb.session(one).run({x})[0];
    Tensor y2 = mb.session(two).run({x})[0];
    expect_close(y1, naive_conv(p, x, w, p.bias ? &b : nullptr), describe(p));
    EXPECT_EQ(max_abs_diff(y1, y2), 0.0) << "results depend on the thread count: " << describe(p);
  }
}

TEST(Conv, AutoPadMatchesExplicitPads) {
  std::mt19937 rng(77);
  for (const char* mode : {"SAME_UPPER", "SAME_LOWER", "VALID"}) {
    for (int t = 0; t < 12; ++t) {
      Problem p = random_problem(rng, false);
      const size_t r = p.r();
      for (size_t i = 0; i < r; ++i) {
        int64_t dk = (p.k[i] - 1) * p.d[i] + 1;
        if (std::string(mode) == "VALID") {
          p.in[i] = std::max(p.in[i], dk);
          p.pads[i] = p.pads[i + r] = 0;
        } else {
          // out = ceil(in / s); total = max(0, (out - 1)·s + dk − in); odd unit at the end for SAME_UPPER.
          int64_t out = (p.in[i] + p.s[i] - 1) / p.s[i];
          int64_t total = std::max<int64_t>(0, (out - 1) * p.s[i] + dk - p.in[i]);
          p.pads[i] = std::string(mode) == "SAME_UPPER" ? total / 2 : total - total / 2;
          p.pads[i + r] = total - p.pads[i];
        }
      }
      Tensor x = random_f32(cat({p.N, p.C}, p.in), 20 + t);
      Tensor w = weights(p, false, 30 + t);
      Tensor got = run_op("Conv", {x, w}, 1, [&](onnx::NodeProto& n) {
        attr(n, "group", p.G);
        attr(n, "strides", p.s);
        attr(n, "dilations", p.d);
        attr(n, "auto_pad", std::string(mode));
      })[0];
      expect_close(got, naive_conv(p, x, w, nullptr), std::string(mode) + " " + describe(p));
    }
  }
}

TEST(Conv, Float64AndOpset1) {
  // 1-D, one channel: y[o] = Σ_k w[k] · x[o + k] (opset 1 model, float64 data).
  Tensor x(DType::Float64, {1, 1, 5}), w(DType::Float64, {1, 1, 2});
  for (int i = 0; i < 5; ++i) x.data_as<double>()[i] = i + 1;  // 1..5
  w.data_as<double>()[0] = 0.5, w.data_as<double>()[1] = -2;
  Tensor y = run_op("Conv", {x, w}, 1, {}, 1)[0];
  ASSERT_EQ(y.dtype(), DType::Float64);
  ASSERT_EQ(y.shape(), (std::vector<int64_t>{1, 1, 4}));
  for (int o = 0; o < 4; ++o) EXPECT_DOUBLE_EQ(y.data_as<double>()[o], 0.5 * (o + 1) - 2.0 * (o + 2));
}

TEST(ConvTranspose, MatchesScatterDefinitionOnRandomProblems) {
  std::mt19937 rng(4321);
  for (int t = 0; t < 60; ++t) {
    Problem p = random_problem(rng, true);
    Tensor x = random_f32(cat({p.N, p.C}, p.in), 40 + t);
    Tensor w = weights(p, true, 140 + t);
    Tensor b = random_f32({p.M}, 1040 + t);
    std::vector<Tensor> in{x, w};
    if (p.bias) in.push_back(b);
    Tensor got = run_op("ConvTranspose", in, 1, [&](onnx::NodeProto& n) {
      conv_attrs(p, t % 2 == 1)(n);
      attr(n, "output_padding", p.output_padding);
    })[0];
    expect_close(got, naive_conv_transpose(p, convt_out_dims(p), x, w, p.bias ? &b : nullptr), describe(p));
  }
}

TEST(ConvTranspose, ManyOutputChannelsAndThreads) {
  Problem p;
  p.N = 2, p.C = 6, p.M = 32, p.G = 2, p.in = {9, 11}, p.k = {3, 2}, p.s = {2, 3}, p.d = {2, 1};
  p.pads = {1, 0, 2, 1}, p.output_padding = {1, 2}, p.bias = true;
  Tensor x = random_f32(cat({p.N, p.C}, p.in), 5);
  Tensor w = weights(p, true, 6);
  Tensor b = random_f32({p.M}, 7);
  ModelBuilder mb;
  mb.input("x", DType::Float32, x.shape()).initializer("w", w).initializer("b", b).output("y");
  auto& n = mb.node("ConvTranspose", {"x", "w", "b"}, {"y"});
  conv_attrs(p, false)(n);
  attr(n, "output_padding", p.output_padding);
  SessionOptions one, two;
  one.threads = 1;
  two.threads = 2;
  Tensor y1 = mb.session(one).run({x})[0];
  Tensor y2 = mb.session(two).run({x})[0];
  expect_close(y1, naive_conv_transpose(p, convt_out_dims(p), x, w, &b), describe(p));
  EXPECT_EQ(max_abs_diff(y1, y2), 0.0);
}

// Pads derived from a requested output size, per the spec:
//   total = s·(in − 1) + output_padding + dk − out;
//   begin = ⌊total/2⌋ for SAME_UPPER, total − ⌊total/2⌋ otherwise.
void derive_pads(Problem& p, const std::vector<int64_t>& out, bool same_upper) {
  const size_t r = p.r();
  for (size_t i = 0; i < r; ++i) {
    int64_t total = p.s[i] * (p.in[i] - 1) + p.output_padding[i] + (p.k[i] - 1) * p.d[i] + 1 - out[i];
    int64_t half = total >= 0 ? total / 2 : -((-total + 1) / 2);  // floor
    p.pads[i] = same_upper ? half : total - half;
    p.pads[i + r] = total - p.pads[i];
  }
}

TEST(ConvTranspose, OutputShapeAndAutoPad) {
  std::mt19937 rng(99);
  for (int t = 0; t < 30; ++t) {
    Problem p = random_problem(rng, true);
    const int mode = t % 3;  // 0: output_shape, 1: SAME_UPPER, 2: SAME_LOWER
    std::vector<int64_t> out;
    for (size_t i = 0; i < p.r(); ++i)
      out.push_back(mode == 0 ? std::uniform_int_distribution<int64_t>(1, 12)(rng) : p.in[i] * p.s[i]);
    derive_pads(p, out, mode == 1);
    Tensor x = random_f32(cat({p.N, p.C}, p.in), 60 + t);
    Tensor w = weights(p, true, 160 + t);
    Tensor got = run_op("ConvTranspose", {x, w}, 1, [&](onnx::NodeProto& n) {
      attr(n, "group", p.G);
      attr(n, "strides", p.s);
      attr(n, "dilations", p.d);
      attr(n, "output_padding", p.output_padding);
      if (mode == 0) attr(n, "output_shape", out);
      else attr(n, "auto_pad", std::string(mode == 1 ? "SAME_UPPER" : "SAME_LOWER"));
    })[0];
    expect_close(got, naive_conv_transpose(p, out, x, w, nullptr), "mode " + std::to_string(mode) + " " + describe(p));
  }
}

// --- shape inference ---------------------------------------------------------

std::vector<int64_t> inferred_shape(ModelBuilder& mb) { return mb.session().outputs()[0].shape; }

TEST(Conv, InfersPartialShapes) {
  // Unknown batch propagates as -1; spatial dims from the constant weights.
  ModelBuilder mb;
  mb.input("x", DType::Float32, {-1, 4, 17, 9}).initializer("w", random_f32({6, 2, 3, 3}, 1)).output("y");
  auto& n = mb.node("Conv", {"x", "w"}, {"y"});
  attr(n, "group", int64_t{2});
  attr(n, "strides", std::vector<int64_t>{2, 1});
  attr(n, "pads", std::vector<int64_t>{1, 0, 1, 0});
  EXPECT_EQ(inferred_shape(mb), (std::vector<int64_t>{-1, 6, 9, 7}));

  // An unknown spatial dim stays unknown; the others are still computed.
  ModelBuilder mb2;
  mb2.input("x", DType::Float32, {-1, 3, -1, 10}).input("w", DType::Float32, {8, 3, 3, 3}).output("y");
  attr(mb2.node("Conv", {"x", "w"}, {"y"}), "auto_pad", std::string("SAME_UPPER"));
  EXPECT_EQ(inferred_shape(mb2), (std::vector<int64_t>{-1, 8, -1, 10}));

  // And it runs with the batch chosen at run time.
  Tensor y = mb.session().run({random_f32({3, 4, 17, 9}, 2)})[0];
  EXPECT_EQ(y.shape(), (std::vector<int64_t>{3, 6, 9, 7}));
}

TEST(Conv, InfersRankFromWeightsWhenInputRankUnknown) {
  ModelBuilder mb;
  mb.input("x", DType::Float32, {1, 2, 5}).initializer("w", random_f32({3, 2, 2}, 1)).output("y");
  mb.proto().mutable_graph()->mutable_input(0)->mutable_type()->mutable_tensor_type()->clear_shape();
  mb.node("Conv", {"x", "w"}, {"y"});
  Session s = mb.session();
  EXPECT_EQ(s.outputs()[0].shape, (std::vector<int64_t>{-1, 3, -1}));
  EXPECT_EQ(s.run({random_f32({1, 2, 5}, 3)})[0].shape(), (std::vector<int64_t>{1, 3, 4}));
}

TEST(Conv, UnknownRanksGiveUnknownShape) {
  // Neither X's nor W's rank is known: no shape, but per-axis attributes are not misjudged.
  ModelBuilder mb;
  mb.input("x", DType::Float32, {1, 2, 5, 5}).input("w", DType::Float32, {3, 2, 3, 3}).output("y");
  for (int i = 0; i < 2; ++i)
    mb.proto().mutable_graph()->mutable_input(i)->mutable_type()->mutable_tensor_type()->clear_shape();
  attr(mb.node("Conv", {"x", "w"}, {"y"}), "strides", std::vector<int64_t>{2, 2});
  Session s = mb.session();
  EXPECT_FALSE(s.outputs()[0].has_shape && !s.outputs()[0].shape.empty());
  EXPECT_EQ(s.run({random_f32({1, 2, 5, 5}, 1), random_f32({3, 2, 3, 3}, 2)})[0].shape(),
            (std::vector<int64_t>{1, 3, 2, 2}));
}

TEST(ConvTranspose, InfersPartialShapes) {
  ModelBuilder mb;
  mb.input("x", DType::Float32, {-1, 4, 5, -1}).initializer("w", random_f32({4, 3, 3, 3}, 1)).output("y");
  auto& n = mb.node("ConvTranspose", {"x", "w"}, {"y"});
  attr(n, "group", int64_t{2});
  attr(n, "strides", std::vector<int64_t>{2, 2});
  attr(n, "output_padding", std::vector<int64_t>{1, 1});
  // out = 2·(5 − 1) + 1 + 3 = 12 on the known axis; M = 3 · group = 6.
  EXPECT_EQ(inferred_shape(mb), (std::vector<int64_t>{-1, 6, 12, -1}));

  ModelBuilder mb2;
  mb2.input("x", DType::Float32, {-1, 4, -1, -1}).initializer("w", random_f32({4, 1, 3, 3}, 1)).output("y");
  attr(mb2.node("ConvTranspose", {"x", "w"}, {"y"}), "output_shape", std::vector<int64_t>{7, 8});
  EXPECT_EQ(inferred_shape(mb2), (std::vector<int64_t>{-1, 1, 7, 8}));
}

// --- errors ------------------------------------------------------------------

// Loading (shape inference) or running the one-node model fails with a message containing `needle`.
void expect_error(const std::string& op, const std::vector<Tensor>& in,
                  const std::function<void(onnx::NodeProto&)>& attrs, const std::string& needle) {
  try {
    run_op(op, in, 1, attrs);
    ADD_FAILURE() << "expected an error containing '" << needle << "'";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(op), std::string::npos) << "error should name the op: " << e.what();
  }
}

TEST(Conv, Errors) {
  Tensor x = random_f32({1, 4, 6, 6}, 1);
  expect_error("Conv", {x, random_f32({2, 4, 3}, 2)}, {}, "rank");
  expect_error("Conv", {random_f32({1, 4}, 1), random_f32({2, 4}, 2)}, {}, "rank >= 3");
  expect_error("Conv", {x, random_f32({2, 3, 3, 3}, 2)}, {}, "channels");
  expect_error("Conv", {x, random_f32({3, 2, 3, 3}, 2)},
               [](onnx::NodeProto& n) { attr(n, "group", int64_t{2}); }, "not divisible by group");
  expect_error("Conv", {x, random_f32({2, 1, 3, 3}, 2)},
               [](onnx::NodeProto& n) { attr(n, "group", int64_t{3}); }, "not divisible by group");
  expect_error("Conv", {x, random_f32({2, 4, 7, 3}, 2)}, {}, "output would be empty");
  expect_error("Conv", {x, random_f32({2, 4, 3, 3}, 2)},
               [](onnx::NodeProto& n) { attr(n, "dilations", std::vector<int64_t>{3, 1}); }, "output would be empty");
  expect_error("Conv", {x, random_f32({2, 4, 3, 3}, 2)},
               [](onnx::NodeProto& n) { attr(n, "strides", std::vector<int64_t>{1, 1, 1}); }, "strides has 3 values");
  expect_error("Conv", {x, random_f32({2, 4, 3, 3}, 2)},
               [](onnx::NodeProto& n) { attr(n, "pads", std::vector<int64_t>{1, 1}); }, "pads has 2 values");
  expect_error("Conv", {x, random_f32({2, 4, 3, 3}, 2)},
               [](onnx::NodeProto& n) { attr(n, "pads", std::vector<int64_t>{1, -1, 1, 1}); }, "pads values must be >= 0");
  expect_error("Conv", {x, random_f32({2, 4, 3, 3}, 2)},
               [](onnx::NodeProto& n) { attr(n, "strides", std::vector<int64_t>{0, 1}); }, "strides values must be >= 1");
  expect_error("Conv", {x, random_f32({2, 4, 3, 3}, 2)},
               [](onnx::NodeProto& n) { attr(n, "kernel_shape", std::vector<int64_t>{2, 2}); }, "kernel_shape");
  expect_error("Conv", {x, random_f32({2, 4, 3, 3}, 2)},
               [](onnx::NodeProto& n) { attr(n, "auto_pad", std::string("SAME")); }, "auto_pad");
  expect_error("Conv", {x, random_f32({2, 4, 3, 3}, 2)}, [](onnx::NodeProto& n) { attr(n, "group", int64_t{0}); },
               "group must be >= 1");
  expect_error("Conv", {x, random_f32({2, 4, 3, 3}, 2), random_f32({3}, 3)}, {}, "B must be 1-D");
  expect_error("Conv", {make_i64({1, 1, 3}, {1, 2, 3}), make_i64({1, 1, 1}, {1})}, {}, "int64");
  expect_error("Conv", {x, Tensor(DType::Float64, {2, 4, 3, 3})}, {}, "dtype");
}

TEST(ConvTranspose, Errors) {
  Tensor x = random_f32({1, 4, 5, 5}, 1);
  expect_error("ConvTranspose", {x, random_f32({4, 2, 3}, 2)}, {}, "rank");
  expect_error("ConvTranspose", {x, random_f32({3, 2, 3, 3}, 2)}, {}, "channels");
  expect_error("ConvTranspose", {random_f32({1, 3, 5, 5}, 1), random_f32({3, 2, 3, 3}, 2)},
               [](onnx::NodeProto& n) { attr(n, "group", int64_t{2}); }, "not divisible by group");
  expect_error("ConvTranspose", {x, random_f32({4, 2, 3, 3}, 2)},
               [](onnx::NodeProto& n) { attr(n, "pads", std::vector<int64_t>{4, 4, 4, 4}); }, "output size would be");
  expect_error("ConvTranspose", {x, random_f32({4, 2, 3, 3}, 2)},
               [](onnx::NodeProto& n) { attr(n, "output_padding", std::vector<int64_t>{1}); }, "output_padding has 1");
  expect_error("ConvTranspose", {x, random_f32({4, 2, 3, 3}, 2)},
               [](onnx::NodeProto& n) { attr(n, "output_shape", std::vector<int64_t>{1, 2, 3}); }, "output_shape");
  expect_error("ConvTranspose", {x, random_f32({4, 2, 3, 3}, 2), random_f32({4}, 3)}, {}, "B must be 1-D");
}

TEST(ConvTranspose, OutputShapeMayNameBatchAndChannels) {
  // output_shape with N and C in front (older exporters) means the same as the spatial dims alone.
  Tensor x = random_f32({1, 2, 3, 3}, 1), w = random_f32({2, 1, 3, 3}, 2);
  auto run = [&](std::vector<int64_t> os) {
    return run_op("ConvTranspose", {x, w}, 1, [&](onnx::NodeProto& n) {
      attr(n, "strides", std::vector<int64_t>{2, 2});
      attr(n, "output_shape", os);
    })[0];
  };
  Tensor a = run({7, 6}), b = run({1, 1, 7, 6});
  EXPECT_EQ(a.shape(), (std::vector<int64_t>{1, 1, 7, 6}));
  EXPECT_EQ(max_abs_diff(a, b), 0.0);
}

}  // namespace
}  // namespace kiln::test
