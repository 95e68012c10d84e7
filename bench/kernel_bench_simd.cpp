// SIMD kernel benchmarks: depthwise convolution (GFLOP/s, 2·K²·OH·OW·C flops)
// and elementwise kernels (GB/s of input + output traffic), single-threaded,
// on the best arch this CPU runs. The reference depthwise conv (im2col + GEMM,
// in a one-thread arena) is measured beside it for the ratio.
//   build/bench/kiln_simd_bench --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>
#include "runtime/parallel.h"

#include <cstdint>
#include <vector>

#include "kernels/reference/conv.h"
#include "kernels/simd/activation.h"
#include "kernels/simd/binary.h"
#include "kernels/simd/dwconv.h"
#include "kernels/simd/reduce.h"

namespace {

using namespace kiln;

std::vector<float> values(int64_t n, float lo, float hi) {
  std::vector<float> v(static_cast<size_t>(n));
  uint32_t s = 12345;
  for (auto& e : v) {
    s = s * 1664525u + 1013904223u;
    e = lo + (hi - lo) * static_cast<float>(s >> 8) / static_cast<float>(1u << 24);
  }
  return v;
}

struct DwCase {
  int64_t C, H, W;
  int K, S;
  simd::DwConvParams params() const {
    simd::DwConvParams p;
    p.H = H;
    p.W = W;
    p.kernel = K;
    p.stride = S;
    p.pad_top = p.pad_left = K / 2;
    p.OH = (H + 2 * (K / 2) - K) / S + 1;
    p.OW = (W + 2 * (K / 2) - K) / S + 1;
    return p;
  }
};

// args: C, H, W, K, S
void BM_DwConvSimd(benchmark::State& st) {
  const DwCase c{st.range(0), st.range(1), st.range(2), static_cast<int>(st.range(3)), static_cast<int>(st.range(4))};
  simd::DwConvParams p = c.params();
  p.act.kind = simd::Act::Relu;
  const std::vector<float> x = values(c.C * c.H * c.W, -1, 1), w = values(c.C * c.K * c.K, -1, 1);
  std::vector<float> y(static_cast<size_t>(c.C * p.OH * p.OW)), work(simd::dwconv2d_workspace_floats(p));
  auto kernel = simd::dispatch(simd::dwconv2d_f32{});
  for (auto _ : st) {
    for (int64_t ch = 0; ch < c.C; ++ch)
      kernel(p, x.data() + ch * c.H * c.W, w.data() + ch * c.K * c.K, 0.1f, nullptr, y.data() + ch * p.OH * p.OW,
             work.data());
    benchmark::ClobberMemory();
  }
  const double flops = 2.0 * c.K * c.K * p.OH * p.OW * c.C;
  st.counters["GFLOP/s"] = benchmark::Counter(flops, benchmark::Counter::kIsIterationInvariantRate,
                                              benchmark::Counter::kIs1000);
  st.SetLabel(simd::best_arch_name());
}

void BM_DwConvReference(benchmark::State& st) {
  const DwCase c{st.range(0), st.range(1), st.range(2), static_cast<int>(st.range(3)), static_cast<int>(st.range(4))};
  const simd::DwConvParams p = c.params();
  kernels::ref::ConvShape s;
  s.in_channels = s.out_channels = s.group = c.C;
  s.in_spatial = {c.H, c.W};
  s.out_spatial = {p.OH, p.OW};
  s.kernel = {c.K, c.K};
  s.strides = {c.S, c.S};
  s.dilations = {1, 1};
  s.pads_begin = {c.K / 2, c.K / 2};
  const std::vector<float> x = values(c.C * c.H * c.W, -1, 1), w = values(c.C * c.K * c.K, -1, 1), b(c.C, 0.1f);
  std::vector<float> y(static_cast<size_t>(c.C * p.OH * p.OW));
  kiln::runtime::Arena one(1);
  for (auto _ : st) {
    one.execute([&] { kernels::ref::conv_f32(s, x.data(), w.data(), b.data(), y.data()); });
    benchmark::ClobberMemory();
  }
  const double flops = 2.0 * c.K * c.K * p.OH * p.OW * c.C;
  st.counters["GFLOP/s"] = benchmark::Counter(flops, benchmark::Counter::kIsIterationInvariantRate,
                                              benchmark::Counter::kIs1000);
}

void dw_args(benchmark::internal::Benchmark* b) {
  b->ArgNames({"C", "H", "W", "K", "S"});
  b->Args({144, 56, 56, 3, 1});   // MobileNetV2 block 3×3 s1
  b->Args({96, 112, 112, 3, 2});  // MobileNetV2 block 3×3 s2
  b->Args({32, 112, 112, 3, 1});
  b->Args({960, 7, 7, 3, 1});
  b->Args({240, 28, 28, 5, 1});   // EfficientNet-B0 5×5
  b->Args({144, 56, 56, 5, 2});
  b->Args({384, 14, 14, 3, 1});   // MobileNetV2 14×14 blocks
  b->Args({576, 14, 14, 3, 2});   // MobileNetV2 14×14 → 7×7
  b->Args({960, 7, 7, 5, 1});     // EfficientNet-B0 7×7 5×5
  b->Unit(benchmark::kMicrosecond);
}
BENCHMARK(BM_DwConvSimd)->Apply(dw_args);
BENCHMARK(BM_DwConvReference)->Apply(dw_args);

// Elementwise: n floats in L2-resident (64 K) and memory-resident (4 M) sizes.
void bytes_rate(benchmark::State& st, double bytes_per_iter) {
  st.counters["GB/s"] = benchmark::Counter(bytes_per_iter, benchmark::Counter::kIsIterationInvariantRate,
                                           benchmark::Counter::kIs1000);
  st.SetLabel(simd::best_arch_name());
}

void BM_BinaryAdd(benchmark::State& st) {
  const int64_t n = st.range(0);
  const std::vector<float> a = values(n, -1, 1), b = values(n, -1, 1);
  std::vector<float> c(static_cast<size_t>(n));
  auto kernel = simd::dispatch(simd::binary_f32{});
  for (auto _ : st) {
    kernel(simd::BinaryOp::Add, a.data(), 1, b.data(), 1, c.data(), n);
    benchmark::ClobberMemory();
  }
  bytes_rate(st, 12.0 * n);
}
BENCHMARK(BM_BinaryAdd)->Arg(1 << 16)->Arg(1 << 22);

// args: n, activation kind (simd::Act)
void BM_Activation(benchmark::State& st) {
  const int64_t n = st.range(0);
  const simd::ActParams p{static_cast<simd::Act>(st.range(1)), 0.f, 6.f};
  const std::vector<float> x = values(n, -6, 6);
  std::vector<float> y(static_cast<size_t>(n));
  auto kernel = simd::dispatch(simd::activation_f32{});
  for (auto _ : st) {
    kernel(p, x.data(), y.data(), n);
    benchmark::ClobberMemory();
  }
  bytes_rate(st, 8.0 * n);
}
BENCHMARK(BM_Activation)
    ->ArgNames({"n", "act"})
    ->Args({1 << 16, static_cast<int>(simd::Act::Relu)})
    ->Args({1 << 16, static_cast<int>(simd::Act::Clip)})
    ->Args({1 << 16, static_cast<int>(simd::Act::Sigmoid)})
    ->Args({1 << 16, static_cast<int>(simd::Act::Tanh)})
    ->Args({1 << 16, static_cast<int>(simd::Act::Gelu)})
    ->Args({1 << 22, static_cast<int>(simd::Act::Relu)});

void BM_SoftmaxRow(benchmark::State& st) {
  const int64_t n = st.range(0);
  const std::vector<float> x = values(n, -6, 6);
  std::vector<float> y(static_cast<size_t>(n));
  auto kernel = simd::dispatch(simd::softmax_row_f32{});
  for (auto _ : st) {
    kernel(x.data(), y.data(), n, false);
    benchmark::ClobberMemory();
  }
  bytes_rate(st, 8.0 * n);
}
BENCHMARK(BM_SoftmaxRow)->Arg(1000)->Arg(1 << 16);

}  // namespace

BENCHMARK_MAIN();
