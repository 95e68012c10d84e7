// Bodies of the row reductions (reduce.h); included only by kernels/simd/instantiate.h.
#pragma once

#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>

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

namespace detail {

// The running extremum a ⊕ v: v when it is NaN or beats a; a NaN a stays.
template <bool is_max, class T>
inline T extremum_step(T a, T v) noexcept {
  if constexpr (std::is_same_v<T, float>) {
    return (v != v || (is_max ? v > a : v < a)) ? v : a;
  } else {
    return xsimd::select(xsimd::isnan(v) | (is_max ? v > a : v < a), v, a);
  }
}

template <class Arch, bool is_max>
float extremum_run(const float* x, int64_t n) noexcept {
  using B = xsimd::batch<float, Arch>;
  constexpr int64_t W = static_cast<int64_t>(B::size);
  const float init = is_max ? -std::numeric_limits<float>::infinity() : std::numeric_limits<float>::infinity();
  B m0(init), m1(init);
  int64_t i = 0;
  for (; i + 2 * W <= n; i += 2 * W) {
    m0 = extremum_step<is_max>(m0, B::load_unaligned(x + i));
    m1 = extremum_step<is_max>(m1, B::load_unaligned(x + i + W));
  }
  for (; i + W <= n; i += W) m0 = extremum_step<is_max>(m0, B::load_unaligned(x + i));
  m0 = extremum_step<is_max>(m0, m1);
  alignas(64) float lanes[W];
  m0.store_aligned(lanes);
  float m = init;
  for (int64_t j = 0; j < W; ++j) m = extremum_step<is_max>(m, lanes[j]);
  for (; i < n; ++i) m = extremum_step<is_max>(m, x[i]);
  return m;
}

// Columns [j, j + V·W) of reduce_rows_f32, V vectors at a time.
template <class Arch, int V>
void rows_block(const float* x, int64_t rows, int64_t ld, ReduceOp op, double scale, float* y) noexcept {
  using B = xsimd::batch<float, Arch>;
  constexpr int64_t W = static_cast<int64_t>(B::size);
  if (op == ReduceOp::Sum) {
    double total[V * W] = {};
    alignas(64) float part[V * W];
    for (int64_t r0 = 0; r0 < rows; r0 += kSumBlock) {
      const int64_t r1 = std::min(rows, r0 + kSumBlock);
      B acc[V];
      for (int v = 0; v < V; ++v) acc[v] = B(0.f);
      for (int64_t r = r0; r < r1; ++r)
        for (int v = 0; v < V; ++v) acc[v] += B::load_unaligned(x + r * ld + v * W);
      for (int v = 0; v < V; ++v) acc[v].store_aligned(part + v * W);
      for (int64_t j = 0; j < V * W; ++j) total[j] += static_cast<double>(part[j]);
    }
    for (int64_t j = 0; j < V * W; ++j) y[j] = static_cast<float>(total[j] * scale);
    return;
  }
  const bool is_max = op == ReduceOp::Max;
  const float init = is_max ? -std::numeric_limits<float>::infinity() : std::numeric_limits<float>::infinity();
  B acc[V];
  for (int v = 0; v < V; ++v) acc[v] = B(init);
  for (int64_t r = 0; r < rows; ++r)
    for (int v = 0; v < V; ++v) {
      const B val = B::load_unaligned(x + r * ld + v * W);
      acc[v] = is_max ? extremum_step<true>(acc[v], val) : extremum_step<false>(acc[v], val);
    }
  for (int v = 0; v < V; ++v) acc[v].store_unaligned(y + v * W);
}

}  // namespace detail

template <class Arch>
float reduce_run_f32::operator()(Arch, const float* x, int64_t n, ReduceOp op, double scale) const noexcept {
  switch (op) {
    case ReduceOp::Sum: return static_cast<float>(sum_f32{}(Arch{}, x, n) * scale);
    case ReduceOp::Max: return detail::extremum_run<Arch, true>(x, n);
    case ReduceOp::Min: return detail::extremum_run<Arch, false>(x, n);
  }
  return 0.f;
}

template <class Arch>
void reduce_rows_f32::operator()(Arch, const float* x, int64_t rows, int64_t ld, int64_t n, ReduceOp op,
                                 double scale, float* y) const noexcept {
  constexpr int64_t W = static_cast<int64_t>(xsimd::batch<float, Arch>::size);
  int64_t j = 0;
  for (; j + 4 * W <= n; j += 4 * W) detail::rows_block<Arch, 4>(x + j, rows, ld, op, scale, y + j);
  for (; j + W <= n; j += W) detail::rows_block<Arch, 1>(x + j, rows, ld, op, scale, y + j);
  // The last columns one by one, in the same row blocks as the vector lanes.
  for (; j < n; ++j) {
    if (op == ReduceOp::Sum) {
      double total = 0;
      for (int64_t r0 = 0; r0 < rows; r0 += kSumBlock) {
        float part = 0.f;
        for (int64_t r = r0; r < std::min(rows, r0 + kSumBlock); ++r) part += x[r * ld + j];
        total += static_cast<double>(part);
      }
      y[j] = static_cast<float>(total * scale);
    } else {
      const bool is_max = op == ReduceOp::Max;
      float m = is_max ? -std::numeric_limits<float>::infinity() : std::numeric_limits<float>::infinity();
      for (int64_t r = 0; r < rows; ++r)
        m = is_max ? detail::extremum_step<true>(m, x[r * ld + j]) : detail::extremum_step<false>(m, x[r * ld + j]);
      y[j] = m;
    }
  }
}

}  // namespace kiln::simd

#define KILN_SIMD_REDUCE_INSTANTIATE(Arch)                                                                        \
  template double kiln::simd::sum_f32::operator()<Arch>(Arch, const float*, int64_t) const noexcept;             \
  template double kiln::simd::sum_sq_dev_f32::operator()<Arch>(Arch, const float*, int64_t, float) const noexcept; \
  template float kiln::simd::max_f32::operator()<Arch>(Arch, const float*, int64_t) const noexcept;              \
  template void kiln::simd::softmax_row_f32::operator()<Arch>(Arch, const float*, float*, int64_t, bool) const noexcept; \
  template float kiln::simd::reduce_run_f32::operator()<Arch>(Arch, const float*, int64_t, kiln::simd::ReduceOp, \
                                                              double) const noexcept;                          \
  template void kiln::simd::reduce_rows_f32::operator()<Arch>(Arch, const float*, int64_t, int64_t, int64_t,     \
                                                              kiln::simd::ReduceOp, double, float*) const noexcept;
