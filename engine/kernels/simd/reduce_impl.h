// Bodies of the row reductions (reduce.h); included only by kernels/simd/instantiate.h.
#pragma once

#include <algorithm>
#include <cmath>
#include <limits>

#include "kernels/simd/reduce.h"

namespace kiln::simd {

namespace detail {

// Σ f(x[i]) over one block (n <= kSumBlock) in four vector accumulators,
// then lanes and tail in a fixed order.
template <class Arch, class F>
double block_sum(const float* x, int64_t n, const F& f) noexcept {
  using B = xsimd::batch<float, Arch>;
  constexpr int64_t W = static_cast<int64_t>(B::size);
  B a0(0.f), a1(0.f), a2(0.f), a3(0.f);
  int64_t i = 0;
  for (; i + 4 * W <= n; i += 4 * W) {
    a0 += f(B::load_unaligned(x + i));
    a1 += f(B::load_unaligned(x + i + W));
    a2 += f(B::load_unaligned(x + i + 2 * W));
    a3 += f(B::load_unaligned(x + i + 3 * W));
  }
  for (; i + W <= n; i += W) a0 += f(B::load_unaligned(x + i));
  // Lanes summed through memory (xsimd 8.1's avx512f hadd needs AVX512DQ).
  alignas(64) float lanes[W];
  ((a0 + a1) + (a2 + a3)).store_aligned(lanes);
  double s = 0;
  for (int64_t j = 0; j < W; ++j) s += static_cast<double>(lanes[j]);
  for (; i < n; ++i) s += static_cast<double>(f(xsimd::batch<float, Arch>(x[i])).get(0));
  return s;
}

template <class Arch, class F>
double blocked_sum(const float* x, int64_t n, const F& f) noexcept {
  double s = 0;
  for (int64_t b = 0; b < n; b += kSumBlock) s += block_sum<Arch>(x + b, std::min(kSumBlock, n - b), f);
  return s;
}

}  // namespace detail

template <class Arch>
double sum_f32::operator()(Arch, const float* x, int64_t n) const noexcept {
  return detail::blocked_sum<Arch>(x, n, [](auto v) { return v; });
}

template <class Arch>
double sum_sq_dev_f32::operator()(Arch, const float* x, int64_t n, float mean) const noexcept {
  using B = xsimd::batch<float, Arch>;
  const B m(mean);
  return detail::blocked_sum<Arch>(x, n, [m](B v) {
    const B d = v - m;
    return d * d;
  });
}

template <class Arch>
float max_f32::operator()(Arch, const float* x, int64_t n) const noexcept {
  using B = xsimd::batch<float, Arch>;
  constexpr int64_t W = static_cast<int64_t>(B::size);
  const float ninf = -std::numeric_limits<float>::infinity();
  B m0(ninf), m1(ninf);
  int64_t i = 0;
  // select(v > m, v, m): a NaN compares false and is skipped, as in the scalar loops.
  for (; i + 2 * W <= n; i += 2 * W) {
    const B v0 = B::load_unaligned(x + i), v1 = B::load_unaligned(x + i + W);
    m0 = xsimd::select(v0 > m0, v0, m0);
    m1 = xsimd::select(v1 > m1, v1, m1);
  }
  for (; i + W <= n; i += W) {
    const B v = B::load_unaligned(x + i);
    m0 = xsimd::select(v > m0, v, m0);
  }
  m0 = xsimd::select(m1 > m0, m1, m0);
  alignas(64) float lanes[W];
  m0.store_aligned(lanes);
  float m = ninf;
  for (int64_t j = 0; j < W; ++j) m = lanes[j] > m ? lanes[j] : m;
  for (; i < n; ++i) m = x[i] > m ? x[i] : m;
  return m;
}

template <class Arch>
void softmax_row_f32::operator()(Arch, const float* x, float* y, int64_t n, bool log) const noexcept {
  using B = xsimd::batch<float, Arch>;
  constexpr int64_t W = static_cast<int64_t>(B::size);
  if (n <= 0) return;
  const float m = max_f32{}(Arch{}, x, n);
  const B vm(m);
  double s = 0;
  if (log) {
    s = detail::blocked_sum<Arch>(x, n, [vm](B v) { return xsimd::exp(v - vm); });
    const float shift = static_cast<float>(static_cast<double>(m) + std::log(s));
    const B vs(shift);
    int64_t i = 0;
    for (; i + W <= n; i += W) (B::load_unaligned(x + i) - vs).store_unaligned(y + i);
    for (; i < n; ++i) y[i] = x[i] - shift;
    return;
  }
  int64_t i = 0;
  for (; i + W <= n; i += W) xsimd::exp(B::load_unaligned(x + i) - vm).store_unaligned(y + i);
  for (; i < n; ++i) y[i] = xsimd::exp(B(x[i] - m)).get(0);
  s = detail::blocked_sum<Arch>(y, n, [](B v) { return v; });
  const B r(static_cast<float>(1.0 / s));
  for (i = 0; i + W <= n; i += W) (B::load_unaligned(y + i) * r).store_unaligned(y + i);
  for (; i < n; ++i) y[i] = y[i] * static_cast<float>(1.0 / s);
}

}  // namespace kiln::simd

#define KILN_SIMD_REDUCE_INSTANTIATE(Arch)                                                                        \
  template double kiln::simd::sum_f32::operator()<Arch>(Arch, const float*, int64_t) const noexcept;             \
  template double kiln::simd::sum_sq_dev_f32::operator()<Arch>(Arch, const float*, int64_t, float) const noexcept; \
  template float kiln::simd::max_f32::operator()<Arch>(Arch, const float*, int64_t) const noexcept;              \
  template void kiln::simd::softmax_row_f32::operator()<Arch>(Arch, const float*, float*, int64_t, bool) const noexcept;
