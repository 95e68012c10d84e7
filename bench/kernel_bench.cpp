// Kernel throughput of the packed SGEMM on the best arch this CPU runs, in
// GFLOP/s and % of FMA peak (kPeakPerCore per core: the figure the project
// quotes for its dev machines), at 1 and 2 threads (a session arena of that
// size): SGEMM 1024³ (operands packed on the fly, and with B prepacked as a
// Gemm with constant weights runs) and the GEMMs the float32 Conv fast path
// runs for ResNet-50 and MobileNet-v2 layers (batch 1, weights prepacked as a
// session does, B read as X itself for 1×1 and packed straight from X
// otherwise; on small maps transposed, as Yᵀ = im2col(X)ᵀ·Wᵀ, with the
// direct form beside it as conv_direct/…), and the ResNet 3×3 layers on both the implicit GEMM
// (conv/…) and Winograd F(4×4, 3×3) (winograd/…; GFLOP/s counts the direct
// convolution's 2·M·N·K, so the two lines compare as times), and the
// first layers (3 input channels) on both the implicit GEMM and the
// few-input-channel direct kernel (small_c/…). fma_peak/<arch> measures the FMA peak of one core in the same
// run (independent FMA chains), so %-of-measured-peak can be read off too.
//
//   kiln_kernel_bench [--benchmark_filter=resnet50] [--benchmark_repetitions=5]
#include <benchmark/benchmark.h>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include <random>
#include <string>
#include <vector>

#include "runtime/parallel.h"

#include "kernels/simd/conv_small_c.h"
#include "kernels/simd/gemm_driver.h"
#include "ops/conv_depthwise.h"
#include "ops/conv_small_c.h"
#include "ops/conv_winograd.h"

namespace {

constexpr double kPeakPerCore = 116e9;  // FP32 FMA FLOP/s, one Zen 4 core (AVX2 and AVX-512 alike)

std::vector<float> random_vec(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(-1.f, 1.f);
  std::vector<float> v(n);
  for (float& x : v) x = d(rng);
  return v;
}

void report(benchmark::State& state, double flops, int threads) {
  const double total = flops * static_cast<double>(state.iterations());
  state.counters["GFLOP/s"] = benchmark::Counter(total / 1e9, benchmark::Counter::kIsRate);
  state.counters["%peak"] = benchmark::Counter(total / (kPeakPerCore * threads) * 100, benchmark::Counter::kIsRate);
  state.counters["threads"] = threads;
}

void run_in_arena(benchmark::State& state, int threads, const kiln::simd::SgemmProblem& p) {
  kiln::runtime::Arena arena(threads);
  arena.execute([&] {
    kiln::simd::sgemm(p);  // warm-up (thread workspaces)
    for (auto _ : state) {
      kiln::simd::sgemm(p);
      benchmark::ClobberMemory();
    }
  });
}

#if defined(__x86_64__)
// Twelve independent FMA chains (more than latency × pipes on current
// cores), `width` floats each: 2 · width · 12 flops per step.
__attribute__((target("avx512f"), noinline)) double fma_chains_avx512(int64_t steps, float seed) {
  __m512 acc[12];
  const __m512 m = _mm512_set1_ps(0.9999f), a = _mm512_set1_ps(1e-4f);
  for (int j = 0; j < 12; ++j) acc[j] = _mm512_set1_ps(seed + static_cast<float>(j));
  for (int64_t s = 0; s < steps; ++s) {
#pragma GCC unroll 12
    for (int j = 0; j < 12; ++j) acc[j] = _mm512_fmadd_ps(acc[j], m, a);
  }
  double sum = 0;
  for (int j = 0; j < 12; ++j) sum += _mm512_cvtss_f32(acc[j]);
  return sum;
}

__attribute__((target("avx2,fma"), noinline)) double fma_chains_avx2(int64_t steps, float seed) {
  __m256 acc[12];
  const __m256 m = _mm256_set1_ps(0.9999f), a = _mm256_set1_ps(1e-4f);
  for (int j = 0; j < 12; ++j) acc[j] = _mm256_set1_ps(seed + static_cast<float>(j));
  for (int64_t s = 0; s < steps; ++s) {
#pragma GCC unroll 12
    for (int j = 0; j < 12; ++j) acc[j] = _mm256_fmadd_ps(acc[j], m, a);
  }
  double sum = 0;
  for (int j = 0; j < 12; ++j) sum += _mm256_cvtss_f32(acc[j]);
  return sum;
}

template <int width>
void bm_fma_peak(benchmark::State& state) {
  constexpr int64_t steps = 1 << 20;
  float seed = 1.f;
  for (auto _ : state) {
    benchmark::DoNotOptimize(seed);  // an input the compiler cannot see, so no call is hoisted
    benchmark::DoNotOptimize(width == 16 ? fma_chains_avx512(steps, seed) : fma_chains_avx2(steps, seed));
  }
  report(state, 2.0 * width * 12 * steps, 1);
}
#endif

// C[M, N] = A[M, K] · B[K, N]; with prepacked B as a Gemm with constant B
// runs, else both operands packed on the fly.
void bm_sgemm(benchmark::State& state) {
  const int64_t n = state.range(0);
  const int threads = static_cast<int>(state.range(1));
  const bool prepacked_b = state.range(2) != 0;
  std::vector<float> a = random_vec(n * n, 1), b = random_vec(n * n, 2), c(n * n);
  kiln::simd::AlignedFloats packed = kiln::simd::pack_gemm_b(b.data(), n, false, n, n);
  kiln::simd::SgemmProblem p;
  p.M = p.N = p.K = n;
  p.a = a.data();
  p.lda = n;
  p.b = b.data();
  p.ldb = n;
  if (prepacked_b) p.packed_b = packed.data();
  p.c = c.data();
  p.ldc = n;
  run_in_arena(state, threads, p);
  report(state, 2.0 * n * n * n, threads);
  state.SetLabel(std::string(kiln::simd::gemm_kernel_name()) + (prepacked_b ? ", B prepacked" : ", A and B packed per call"));
}

struct ConvLayer {
  const char* name;
  int64_t cin, cout, hw, k, stride, pad;
};

bool pointwise(const ConvLayer& l) { return l.k == 1 && l.stride == 1 && l.pad == 0; }
int64_t positions(const ConvLayer& l) {
  const int64_t oh = (l.hw + 2 * l.pad - l.k) / l.stride + 1;
  return oh * oh;
}

// One image of Conv (bias + Relu epilogue, as a fused node runs it), in the
// form the Conv op picks (kiln::simd::conv_gemm_transposed: Yᵀ = im2col(X)ᵀ·Wᵀ
// on small maps), or as Y = W·im2col(X) when `direct` (conv_direct/…, for
// comparison in the same run).
void bm_conv(benchmark::State& state, ConvLayer l, bool direct) {
  const int threads = static_cast<int>(state.range(0));
  const int64_t oh = (l.hw + 2 * l.pad - l.k) / l.stride + 1, osp = oh * oh, K = l.cin * l.k * l.k;
  std::vector<float> x = random_vec(l.cin * l.hw * l.hw, 3), w = random_vec(l.cout * K, 4), bias = random_vec(l.cout, 5);
  std::vector<float> y(l.cout * osp);
  const bool tr = !direct && kiln::simd::conv_gemm_transposed(l.cout, osp);
  kiln::simd::AlignedFloats packed = tr ? kiln::simd::pack_gemm_b(w.data(), K, true, K, l.cout)
                                        : kiln::simd::pack_gemm_a(w.data(), K, false, l.cout, K);
  kiln::simd::Im2col2d col{x.data(), l.cin, l.hw, l.hw, oh, oh, l.k, l.k, l.stride, l.stride, 1, 1, l.pad, l.pad};
  kiln::simd::SgemmProblem p;
  p.K = K;
  p.c = y.data();
  p.ldc = osp;
  p.ep.act = kiln::simd::GemmActivation::Relu;
  if (tr) {
    p.M = osp;
    p.N = l.cout;
    p.packed_b = packed.data();
    p.a_im2col = &col;
    p.trans_c = true;
    p.ep.col_bias = bias.data();
  } else {
    p.M = l.cout;
    p.N = osp;
    p.packed_a = packed.data();
    if (pointwise(l)) {
      p.b = x.data();
      p.ldb = osp;
    } else {
      p.im2col = &col;
    }
    p.ep.row_bias = bias.data();
  }
  run_in_arena(state, threads, p);
  report(state, 2.0 * l.cout * osp * K, threads);
  state.SetLabel(std::to_string(l.cout) + "x" + std::to_string(osp) + "x" + std::to_string(K) + " (MxNxK)" +
                 (tr ? ", transposed" : ""));
}

// The same layer (pad 1, bias + Relu) on the Winograd path: filters
// transformed once, as a session's prepare does.
void bm_winograd(benchmark::State& state, ConvLayer l) {
  const int threads = static_cast<int>(state.range(0));
  const int64_t osp = l.hw * l.hw, K = l.cin * 9;
  std::vector<float> x = random_vec(l.cin * osp, 3), w = random_vec(l.cout * K, 4), bias = random_vec(l.cout, 5);
  std::vector<float> y(l.cout * osp);
  const auto u = kiln::ops::winograd_weights(w.data(), l.cout, l.cin);
  kiln::kernels::ref::ConvShape s;
  s.in_channels = l.cin;
  s.out_channels = l.cout;
  s.in_spatial = s.out_spatial = {l.hw, l.hw};
  s.kernel = {3, 3};
  s.strides = s.dilations = {1, 1};
  s.pads_begin = {1, 1};
  kiln::simd::ActParams act;
  act.kind = kiln::simd::Act::Relu;
  kiln::runtime::Arena arena(threads);
  arena.execute([&] {
    kiln::ops::winograd_conv_f32(*u, s, x.data(), bias.data(), nullptr, act, y.data());  // warm-up
    for (auto _ : state) {
      kiln::ops::winograd_conv_f32(*u, s, x.data(), bias.data(), nullptr, act, y.data());
      benchmark::ClobberMemory();
    }
  });
  report(state, 2.0 * l.cout * osp * K, threads);
  state.SetLabel(std::string(kiln::simd::gemm_kernel_name("winograd_f4x3")) + ", direct-conv FLOPs");
}

// The filter transform a session runs once per Winograd layer (U from W,
// written as the SGEMM's packed A): reported as MB of W per second.
void bm_winograd_filter(benchmark::State& state, ConvLayer l) {
  std::vector<float> w = random_vec(l.cout * l.cin * 9, 4);
  for (auto _ : state) benchmark::DoNotOptimize(kiln::ops::winograd_weights(w.data(), l.cout, l.cin));
  state.counters["MB_of_W/s"] = benchmark::Counter(static_cast<double>(w.size() * sizeof(float)) * 1e-6 *
                                                       static_cast<double>(state.iterations()),
                                                   benchmark::Counter::kIsRate);
}

// The same layer (bias + Relu) on the few-input-channel direct kernel
// (cin <= 4): weights packed once, as a session's prepare does.
void bm_small_c(benchmark::State& state, ConvLayer l) {
  const int threads = static_cast<int>(state.range(0));
  const int64_t oh = (l.hw + 2 * l.pad - l.k) / l.stride + 1, osp = oh * oh, K = l.cin * l.k * l.k;
  std::vector<float> x = random_vec(l.cin * l.hw * l.hw, 3), w = random_vec(l.cout * K, 4), bias = random_vec(l.cout, 5);
  std::vector<float> y(l.cout * osp);
  const auto u = kiln::ops::small_c_weights(w.data(), l.cout, l.cin, l.k, l.k);
  kiln::kernels::ref::ConvShape s;
  s.in_channels = l.cin;
  s.out_channels = l.cout;
  s.in_spatial = {l.hw, l.hw};
  s.out_spatial = {oh, oh};
  s.kernel = {l.k, l.k};
  s.strides = {l.stride, l.stride};
  s.dilations = {1, 1};
  s.pads_begin = {l.pad, l.pad};
  kiln::simd::ActParams act;
  act.kind = kiln::simd::Act::Relu;
  kiln::runtime::Arena arena(threads);
  arena.execute([&] {
    kiln::ops::small_c_conv_f32(*u, s, x.data(), bias.data(), nullptr, act, y.data());  // warm-up (thread workspaces)
    for (auto _ : state) {
      kiln::ops::small_c_conv_f32(*u, s, x.data(), bias.data(), nullptr, act, y.data());
      benchmark::ClobberMemory();
    }
  });
  report(state, 2.0 * l.cout * osp * K, threads);
  state.SetLabel(std::string("conv_small_c_") + kiln::simd::best_arch_name());
}

// Depthwise layers (Clip 0…6 as MobileNet-v2 fuses it): the per-plane kernel
// (depthwise/…) and the channel-blocked one (depthwise_blocked/…); the
// engine picks per layer with dwconv2d_prefer_blocked. GFLOP/s counts 2·K²
// per output element.
struct DwLayer {
  const char* name;
  int64_t c, hw, k, stride;
};

void bm_depthwise(benchmark::State& state, DwLayer l, bool blocked) {
  const int threads = static_cast<int>(state.range(0));
  kiln::simd::DwConvParams p;
  p.H = p.W = l.hw;
  p.kernel = static_cast<int>(l.k);
  p.stride = static_cast<int>(l.stride);
  p.pad_top = p.pad_left = l.k / 2;
  p.OH = p.OW = (l.hw + 2 * (l.k / 2) - l.k) / l.stride + 1;
  p.act = {kiln::simd::Act::Clip, 0.f, 6.f};
  const int64_t osz = p.OH * p.OW;
  std::vector<float> x = random_vec(l.c * l.hw * l.hw, 3), w = random_vec(l.c * l.k * l.k, 4), b = random_vec(l.c, 5);
  std::vector<float> y(l.c * osz);
  kiln::runtime::Arena arena(threads);
  arena.execute([&] {
    kiln::ops::depthwise_conv_f32(p, 1, l.c, x.data(), w.data(), b.data(), nullptr, y.data(), blocked);  // warm-up
    for (auto _ : state) {
      kiln::ops::depthwise_conv_f32(p, 1, l.c, x.data(), w.data(), b.data(), nullptr, y.data(), blocked);
      benchmark::ClobberMemory();
    }
  });
  report(state, 2.0 * l.c * osz * l.k * l.k, threads);
  state.SetLabel(std::string(blocked ? "dwconv_blocked_" : "dwconv_") + kiln::simd::best_arch_name() +
                 (kiln::simd::dwconv2d_prefer_blocked(p) == blocked ? " (chosen)" : ""));
}

const DwLayer kDwLayers[] = {
    {"mobilenet_v2/3x3_32_112", 32, 112, 3, 1},   {"mobilenet_v2/3x3s2_96_112", 96, 112, 3, 2},
    {"mobilenet_v2/3x3_144_56", 144, 56, 3, 1},   {"mobilenet_v2/3x3s2_144_56", 144, 56, 3, 2},
    {"mobilenet_v2/3x3_192_28", 192, 28, 3, 1},   {"mobilenet_v2/3x3s2_192_28", 192, 28, 3, 2},
    {"mobilenet_v2/3x3_384_14", 384, 14, 3, 1},   {"mobilenet_v2/3x3_576_14", 576, 14, 3, 1},
    {"mobilenet_v2/3x3s2_576_14", 576, 14, 3, 2}, {"mobilenet_v2/3x3_960_7", 960, 7, 3, 1},
    {"efficientnet_b0/5x5s2_144_56", 144, 56, 5, 2}, {"efficientnet_b0/5x5_240_28", 240, 28, 5, 1},
    {"efficientnet_b0/5x5_672_14", 672, 14, 5, 1}, {"efficientnet_b0/5x5s2_672_14", 672, 14, 5, 2},
    {"efficientnet_b0/5x5_1152_7", 1152, 7, 5, 1},
};

const ConvLayer kLayers[] = {
    {"resnet50/1x1_256to64_56", 256, 64, 56, 1, 1, 0},
    {"resnet50/3x3_64to64_56", 64, 64, 56, 3, 1, 1},
    {"resnet50/3x3_256to256_14", 256, 256, 14, 3, 1, 1},
    {"resnet50/3x3_128to128_28", 128, 128, 28, 3, 1, 1},  // ResNet-18 has the same four 3×3 shapes
    {"resnet50/3x3_512to512_7", 512, 512, 7, 3, 1, 1},
    {"densenet121/3x3_128to32_56", 128, 32, 56, 3, 1, 1},
    {"densenet121/3x3_128to32_28", 128, 32, 28, 3, 1, 1},
    {"densenet121/3x3_128to32_14", 128, 32, 14, 3, 1, 1},
    {"densenet121/3x3_128to32_7", 128, 32, 7, 3, 1, 1},
    {"small/3x3_16to16_56", 16, 16, 56, 3, 1, 1},
    {"small/3x3_32to32_28", 32, 32, 28, 3, 1, 1},
    {"resnet50/1x1_1024to256_14", 1024, 256, 14, 1, 1, 0},
    {"resnet50/1x1_256to1024_14", 256, 1024, 14, 1, 1, 0},
    {"resnet50/1x1_512to128_28", 512, 128, 28, 1, 1, 0},
    {"resnet50/1x1_64to256_56", 64, 256, 56, 1, 1, 0},
    {"resnet50/7x7s2_3to64_224", 3, 64, 224, 7, 2, 3},
    {"mobilenet_v2/3x3s2_3to32_224", 3, 32, 224, 3, 2, 1},
    {"shufflenet_v2/3x3s2_3to24_224", 3, 24, 224, 3, 2, 1},
    {"mobilenet_v3/3x3s2_3to16_224", 3, 16, 224, 3, 2, 1},
    {"squeezenet1_1/3x3s2p0_3to64_224", 3, 64, 224, 3, 2, 0},
    {"vgg11/3x3_3to64_224", 3, 64, 224, 3, 1, 1},
    {"mobilenet_v2/1x1_16to96_112", 16, 96, 112, 1, 1, 0},
    {"mobilenet_v2/1x1_32to16_112", 32, 16, 112, 1, 1, 0},
    {"mobilenet_v2/1x1_144to24_56", 144, 24, 56, 1, 1, 0},
    {"mobilenet_v2/1x1_24to144_56", 24, 144, 56, 1, 1, 0},
    {"mobilenet_v2/1x1_384to64_14", 384, 64, 14, 1, 1, 0},
    {"mobilenet_v2/1x1_960to160_7", 960, 160, 7, 1, 1, 0},
    {"mobilenet_v2/1x1_160to960_7", 160, 960, 7, 1, 1, 0},
    {"mobilenet_v2/1x1_320to1280_7", 320, 1280, 7, 1, 1, 0},
    {"mobilenet_v2/1x1_960to320_7", 960, 320, 7, 1, 1, 0},
    {"densenet121/1x1_512to128_14", 512, 128, 14, 1, 1, 0},
    {"densenet121/1x1_1024to512_14", 1024, 512, 14, 1, 1, 0},
    {"densenet121/1x1_992to128_7", 992, 128, 7, 1, 1, 0},
};

}  // namespace

int main(int argc, char** argv) {
#if defined(__x86_64__)
  if (__builtin_cpu_supports("avx512f")) benchmark::RegisterBenchmark("fma_peak/avx512", bm_fma_peak<16>)->UseRealTime();
  if (__builtin_cpu_supports("fma")) benchmark::RegisterBenchmark("fma_peak/avx2", bm_fma_peak<8>)->UseRealTime();
#endif
  benchmark::RegisterBenchmark("sgemm", bm_sgemm)
      ->ArgNames({"n", "threads", "prepacked_b"})
      ->Args({1024, 1, 0})
      ->Args({1024, 2, 0})
      ->Args({1024, 1, 1})
      ->Args({1024, 2, 1})
      ->UseRealTime()
      ->Unit(benchmark::kMillisecond);
  for (const ConvLayer& l : kLayers) {
    benchmark::RegisterBenchmark((std::string("conv/") + l.name).c_str(), bm_conv, l, false)
        ->Arg(1)
        ->Arg(2)
        ->UseRealTime()
        ->Unit(benchmark::kMicrosecond);
    if (kiln::simd::conv_gemm_transposed(l.cout, positions(l)))
      benchmark::RegisterBenchmark((std::string("conv_direct/") + l.name).c_str(), bm_conv, l, true)
          ->Arg(1)
          ->Arg(2)
          ->UseRealTime()
          ->Unit(benchmark::kMicrosecond);
  }
  for (const ConvLayer& l : kLayers)
    if (l.k == 3 && l.stride == 1)
      benchmark::RegisterBenchmark((std::string("winograd/") + l.name).c_str(), bm_winograd, l)
          ->Arg(1)
          ->Arg(2)
          ->UseRealTime()
          ->Unit(benchmark::kMicrosecond);
  for (const ConvLayer& l : kLayers)
    if (l.k == 3 && l.stride == 1 && l.cin * l.cout >= 128 * 128)
      benchmark::RegisterBenchmark((std::string("winograd_filter/") + l.name).c_str(), bm_winograd_filter, l)
          ->UseRealTime()
          ->Unit(benchmark::kMillisecond);
  for (const ConvLayer& l : kLayers)
    if (l.cin <= kiln::simd::kSmallCMaxChannels)
      benchmark::RegisterBenchmark((std::string("small_c/") + l.name).c_str(), bm_small_c, l)
          ->Arg(1)
          ->Arg(2)
          ->UseRealTime()
          ->Unit(benchmark::kMicrosecond);
  for (const DwLayer& l : kDwLayers)
    for (bool blocked : {false, true})
      benchmark::RegisterBenchmark((std::string(blocked ? "depthwise_blocked/" : "depthwise/") + l.name).c_str(),
                                   bm_depthwise, l, blocked)
          ->Arg(1)
          ->Arg(2)
          ->UseRealTime()
          ->Unit(benchmark::kMicrosecond);
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
