#include "kernels/reference/softmax.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace kiln::kernels::ref {

namespace {

// Σ of n floats in double, in 8 interleaved partial sums (a fixed order, so
// the result does not depend on threading; the independent lanes vectorize).
template <class T>
double sum_lanes(const T* v, int64_t n) noexcept {
  double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t k = 0;
  for (; k + 8 <= n; k += 8)
    for (int j = 0; j < 8; ++j) acc[j] += v[k + j];
  for (; k < n; ++k) acc[k % 8] += v[k];
  return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

// One contiguous row of n values (inner = 1). A NaN input need not be caught
// by the max: it turns Σ, and with it every output, into NaN.
template <class T>
void softmax_row(const T* x, T* y, int64_t n, bool log) noexcept {
  T m = -std::numeric_limits<T>::infinity();
  for (int64_t k = 0; k < n; ++k) m = x[k] > m ? x[k] : m;
  for (int64_t k = 0; k < n; ++k) y[k] = std::exp(x[k] - m);
  const double s = sum_lanes(y, n);
  if (log) {
    const double shift = static_cast<double>(m) + std::log(s);  // m + log s
    for (int64_t k = 0; k < n; ++k) y[k] = static_cast<T>(x[k] - shift);
  } else {
    const double r = 1.0 / s;
    for (int64_t k = 0; k < n; ++k) y[k] = static_cast<T>(y[k] * r);
  }
}

// A block of w columns (w <= kSoftmaxBlock) of a [n, inner] slab; row k is x[k·inner + 0 … w).
template <class T>
void softmax_columns(const T* x, T* y, int64_t n, int64_t inner, int64_t w, bool log) noexcept {
  T mx[kSoftmaxBlock];
  double sum[kSoftmaxBlock];
  std::fill(mx, mx + w, -std::numeric_limits<T>::infinity());
  std::fill(sum, sum + w, 0.0);
  for (int64_t k = 0; k < n; ++k)
    for (int64_t j = 0; j < w; ++j) {
      T v = x[k * inner + j];
      mx[j] = v > mx[j] ? v : mx[j];  // a NaN reaches the output through Σ instead
    }
  for (int64_t k = 0; k < n; ++k)
    for (int64_t j = 0; j < w; ++j) {
      T e = std::exp(x[k * inner + j] - mx[j]);
      if (!log) y[k * inner + j] = e;
      sum[j] += e;
    }
  if (log) {
    for (int64_t j = 0; j < w; ++j) sum[j] = static_cast<double>(mx[j]) + std::log(sum[j]);
    for (int64_t k = 0; k < n; ++k)
      for (int64_t j = 0; j < w; ++j) y[k * inner + j] = static_cast<T>(x[k * inner + j] - sum[j]);
  } else {
    for (int64_t j = 0; j < w; ++j) sum[j] = 1.0 / sum[j];
    for (int64_t k = 0; k < n; ++k)
      for (int64_t j = 0; j < w; ++j) y[k * inner + j] = static_cast<T>(y[k * inner + j] * sum[j]);
  }
}

}  // namespace

template <class T>
void softmax(const T* x, T* y, int64_t outer, int64_t n, int64_t inner, bool log, int64_t item_begin,
             int64_t item_end) noexcept {
  (void)outer;
  const int64_t blocks = (inner + kSoftmaxBlock - 1) / kSoftmaxBlock;
  for (int64_t t = item_begin; t < item_end; ++t) {
    const int64_t o = t / blocks, j0 = (t % blocks) * kSoftmaxBlock;
    const int64_t off = o * n * inner + j0;
    if (inner == 1) softmax_row(x + off, y + off, n, log);
    else softmax_columns(x + off, y + off, n, inner, std::min(kSoftmaxBlock, inner - j0), log);
  }
}

template void softmax(const float*, float*, int64_t, int64_t, int64_t, bool, int64_t, int64_t) noexcept;
template void softmax(const double*, double*, int64_t, int64_t, int64_t, bool, int64_t, int64_t) noexcept;

}  // namespace kiln::kernels::ref
