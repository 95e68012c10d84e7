// Reference kernels for the normalization ops (BatchNormalization,
// InstanceNormalization, LayerNormalization, LRN). Single-threaded; the ops
// split independent channels / rows over threads. Sums are formed in double.
//
// Many of them walk a "strided group": `runs` contiguous runs of `run_len`
// elements, run r starting at offset r·run_stride. A BatchNormalization channel
// c of an N×C×S tensor is the group (x + c·S, runs N, stride C·S, length S); an
// instance (n, c) or a LayerNormalization row is a single run.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>

namespace kiln::kernels::ref {

struct Moments {
  double mean = 0;
  double var = 0;  // population variance: Σ(x − mean)² / count
};

// Mean and population variance of a strided group, by two passes (mean first,
// then squared deviations) for accuracy. NaN for an empty group.
template <class T>
Moments group_moments(const T* x, int64_t runs, int64_t run_stride, int64_t run_len) noexcept {
  const int64_t count = runs * run_len;
  if (count == 0) return {std::numeric_limits<double>::quiet_NaN(), std::numeric_limits<double>::quiet_NaN()};
  double sum = 0;
  for (int64_t r = 0; r < runs; ++r) {
    const T* p = x + r * run_stride;
    for (int64_t i = 0; i < run_len; ++i) sum += static_cast<double>(p[i]);
  }
  const double mean = sum / static_cast<double>(count);
  double sq = 0;
  for (int64_t r = 0; r < runs; ++r) {
    const T* p = x + r * run_stride;
    for (int64_t i = 0; i < run_len; ++i) {
      const double d = static_cast<double>(p[i]) - mean;
      sq += d * d;
    }
  }
  return {mean, sq / static_cast<double>(count)};
}

// y[i] = x[i]·s + t over one contiguous run: the per-channel affine map that
// inference-mode BatchNormalization and InstanceNormalization reduce to.
template <class T>
void affine_run(const T* x, T* y, int64_t len, double s, double t) noexcept {
  for (int64_t i = 0; i < len; ++i) y[i] = static_cast<T>(static_cast<double>(x[i]) * s + t);
}

// One LayerNormalization row of length `len`:
//   y[i] = (x[i] − mean) · inv_std · scale[i] + bias[i]   (bias may be null)
// where scale/bias are already laid out for this row.
template <class T>
void layer_norm_row(const T* x, T* y, int64_t len, double mean, double inv_std, const T* scale,
                    const T* bias) noexcept {
  for (int64_t i = 0; i < len; ++i) {
    double v = (static_cast<double>(x[i]) - mean) * inv_std * static_cast<double>(scale[i]);
    if (bias) v += static_cast<double>(bias[i]);
    y[i] = static_cast<T>(v);
  }
}

// Local response normalization of channels [c_begin, c_end) of one image, a
// C×S block (channel-major) at x / y:
//   square_sum[c, s] = Σ_{i = max(0, c − lo)}^{min(C − 1, c + hi)} x[i, s]²
//   y[c, s] = x[c, s] / (bias + alpha / size · square_sum[c, s])^beta
// with lo = ⌊(size − 1)/2⌋ and hi = ⌈(size − 1)/2⌉.
template <class T>
void lrn_channels(const T* x, T* y, int64_t C, int64_t S, int64_t c_begin, int64_t c_end, int64_t size,
                  double alpha, double beta, double bias) noexcept {
  const int64_t lo = (size - 1) / 2;
  const int64_t hi = size - 1 - lo;
  const double a = alpha / static_cast<double>(size);
  for (int64_t c = c_begin; c < c_end; ++c) {
    const int64_t c0 = c - lo < 0 ? 0 : c - lo;
    const int64_t c1 = c + hi > C - 1 ? C - 1 : c + hi;
    for (int64_t s = 0; s < S; ++s) {
      double sum = 0;
      for (int64_t i = c0; i <= c1; ++i) {
        const double v = static_cast<double>(x[i * S + s]);
        sum += v * v;
      }
      y[c * S + s] = static_cast<T>(static_cast<double>(x[c * S + s]) / std::pow(bias + a * sum, beta));
    }
  }
}

}  // namespace kiln::kernels::ref
