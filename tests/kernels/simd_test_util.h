// Typed-test plumbing for the SIMD kernels: every compiled arch, each test
// skipped where the CPU lacks the arch; guarded buffers.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "kernels/simd/activation.h"
#include "kernels/simd/arch.h"

namespace kiln::simd::testing_util {

#if defined(__x86_64__)
using Archs = ::testing::Types<xsimd::avx512f, xsimd::fma3<xsimd::avx2>, xsimd::sse2>;
#elif defined(__aarch64__)
using Archs = ::testing::Types<xsimd::neon64>;
#endif

struct ArchNames {
  template <class T>
  static std::string GetName(int) {
    return T::name();
  }
};

#define KILN_SKIP_UNLESS_ARCH(Arch) \
  if (!::kiln::simd::arch_available<Arch>()) GTEST_SKIP() << Arch::name() << " not available on this CPU"

// The activation kinds of kernels/simd/activation.h, in double.
inline double act_ref(const ActParams& p, double x) {
  auto clamp01 = [](double v) { return v < 0 ? 0.0 : (v > 1 ? 1.0 : v); };
  auto softplus = [](double v) { return std::max(v, 0.0) + std::log1p(std::exp(-std::fabs(v))); };
  switch (p.kind) {
    case Act::None: return x;
    case Act::Relu: return x < 0 ? 0 : x;
    case Act::LeakyRelu: return x >= 0 ? x : p.alpha * x;
    case Act::Clip: return std::min(std::max(x, double(p.alpha)), double(p.beta));
    case Act::Sigmoid: return 1 / (1 + std::exp(-x));
    case Act::HardSigmoid: return clamp01(double(p.alpha) * x + double(p.beta));
    case Act::HardSwish: return x * clamp01(x / 6 + 0.5);
    case Act::Tanh: return std::tanh(x);
    case Act::SiLU: return x / (1 + std::exp(-x));
    case Act::Softplus: return softplus(x);
    case Act::Mish: return x * std::tanh(softplus(x));
    case Act::Gelu: return 0.5 * x * std::erfc(-x / std::sqrt(2.0));
    case Act::GeluTanh: return 0.5 * x * (1 + std::tanh(std::sqrt(2 / M_PI) * (x + 0.044715 * x * x * x)));
  }
  return 0;
}


// A float buffer of n elements between two guard regions of a sentinel value.
class Guarded {
 public:
  static constexpr int64_t kGuard = 37;
  static constexpr float kSentinel = -12345.f;
  explicit Guarded(int64_t n, float fill = kSentinel)
      : n_(n), buf_(static_cast<size_t>(n + 2 * kGuard), kSentinel) {
    std::fill(data(), data() + n, fill);
  }
  float* data() { return buf_.data() + kGuard; }
  const float* data() const { return buf_.data() + kGuard; }
  float& operator[](int64_t i) { return data()[i]; }
  float operator[](int64_t i) const { return data()[i]; }
  int64_t size() const { return n_; }
  bool guards_intact() const {
    for (int64_t i = 0; i < kGuard; ++i)
      if (buf_[i] != kSentinel || buf_[kGuard + n_ + i] != kSentinel) return false;
    return true;
  }

 private:
  int64_t n_;
  std::vector<float> buf_;
};

// Deterministic values in [lo, hi).
inline std::vector<float> ramp(int64_t n, float lo, float hi, uint32_t seed = 1) {
  std::vector<float> v(static_cast<size_t>(n));
  uint32_t s = seed * 2654435761u + 12345u;
  for (auto& e : v) {
    s = s * 1664525u + 1013904223u;
    e = lo + (hi - lo) * static_cast<float>(s >> 8) / static_cast<float>(1u << 24);
  }
  return v;
}

}  // namespace kiln::simd::testing_util
