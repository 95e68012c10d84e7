#include "kernels/reference/resize.h"

#include <algorithm>
#include <cmath>

namespace kiln::kernels::ref {

double resize_source_coord(const ResizeAxisParams& p, int64_t j) {
  const double x = static_cast<double>(j), in = static_cast<double>(p.in_len);
  // The (possibly fractional) output length the scale describes; the ONNX
  // reference uses it rather than the integer length.
  const double out_w = p.scale * in;
  switch (p.coord) {
    case CoordMode::HalfPixel: return (x + 0.5) / p.scale - 0.5;
    case CoordMode::HalfPixelSymmetric: {
      double adjustment = static_cast<double>(p.out_len) / out_w;
      double offset = in / 2 * (1 - adjustment);
      return offset + (x + 0.5) / p.scale - 0.5;
    }
    case CoordMode::PytorchHalfPixel: return p.out_len > 1 ? (x + 0.5) / p.scale - 0.5 : 0.0;
    case CoordMode::AlignCorners: return out_w == 1 ? 0.0 : x * (in - 1) / (out_w - 1);
    case CoordMode::Asymmetric: return x / p.scale;
    case CoordMode::TfCropAndResize:
      if (out_w == 1) return 0.5 * (p.roi_start + p.roi_end) * (in - 1);
      return p.roi_start * (in - 1) + x * (p.roi_end - p.roi_start) * (in - 1) / (out_w - 1);
  }
  return 0;
}

namespace {

// Keys' cubic convolution kernel with parameter a.
double cubic_kernel(double x, double a) {
  x = std::fabs(x);
  if (x <= 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
  if (x < 2) return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a;
  return 0;
}

}  // namespace

ResizeTaps resize_taps(const ResizeAxisParams& p) {
  ResizeTaps t;
  const int64_t n_out = p.out_len;
  t.extrapolate.assign(static_cast<size_t>(n_out), 0);
  // Filter stretch: antialiased downscaling widens the filter by 1/scale.
  const double s = p.antialias && p.scale < 1 ? p.scale : 1.0;
  int64_t first = 0;  // tap offsets relative to `left` run over [first, 1 - first]
  if (p.interp == InterpMode::Nearest) t.taps = 1;
  else if (p.interp == InterpMode::Linear) first = static_cast<int64_t>(std::floor(-1 / s)) + 1;
  else first = static_cast<int64_t>(std::floor(-2 / s)) + 1;
  if (p.interp != InterpMode::Nearest) t.taps = 2 - 2 * first;
  t.index.resize(static_cast<size_t>(n_out * t.taps));
  t.weight.resize(static_cast<size_t>(n_out * t.taps));

  for (int64_t j = 0; j < n_out; ++j) {
    const double x = resize_source_coord(p, j);
    int64_t* idx = &t.index[static_cast<size_t>(j * t.taps)];
    double* w = &t.weight[static_cast<size_t>(j * t.taps)];
    if (p.coord == CoordMode::TfCropAndResize && (x < 0 || x > static_cast<double>(p.in_len - 1))) {
      t.extrapolate[static_cast<size_t>(j)] = 1;
      std::fill_n(idx, t.taps, 0);
      std::fill_n(w, t.taps, 0.0);
      continue;
    }
    // x = left + ratio with ratio in (0, 1]: an integer x is reached from the
    // left neighbour with ratio 1, as in the ONNX reference.
    double fl = std::floor(x);
    double ratio = x - fl;
    int64_t left = static_cast<int64_t>(fl);
    if (ratio == 0) {
      ratio = 1;
      left -= 1;
    }
    auto clamp = [&](int64_t i) { return std::clamp<int64_t>(i, 0, p.in_len - 1); };
    if (p.interp == InterpMode::Nearest) {
      bool right;
      switch (p.nearest) {
        case NearestMode::RoundPreferFloor: right = ratio > 0.5; break;
        case NearestMode::RoundPreferCeil: right = ratio >= 0.5; break;
        case NearestMode::Floor: right = ratio == 1; break;
        case NearestMode::Ceil: right = true; break;
        case NearestMode::Simple: right = p.scale < 1 || ratio == 1; break;
        default: right = false;
      }
      idx[0] = clamp(left + (right ? 1 : 0));
      w[0] = 1;
      continue;
    }
    double sum = 0;
    for (int64_t k = 0; k < t.taps; ++k) {
      const int64_t i = first + k;  // offset from left
      const double d = s * (static_cast<double>(i) - ratio);
      double wk = p.interp == InterpMode::Linear ? std::max(0.0, 1 - std::fabs(d)) : cubic_kernel(d, p.cubic_a);
      const int64_t src = left + i;
      if (p.exclude_outside && (src < 0 || src >= p.in_len)) wk = 0;
      idx[k] = clamp(src);
      w[k] = wk;
      sum += wk;
    }
    if (sum != 0 && (s != 1 || p.exclude_outside))
      for (int64_t k = 0; k < t.taps; ++k) w[k] /= sum;
  }
  return t;
}

void resize_axis(const double* src, double* dst, int64_t outer, int64_t in_len, int64_t out_len, int64_t inner,
                 const ResizeTaps& t, double extrapolation) noexcept {
  for (int64_t o = 0; o < outer; ++o) {
    const double* s = src + o * in_len * inner;
    double* d = dst + o * out_len * inner;
    for (int64_t j = 0; j < out_len; ++j, d += inner) {
      if (t.extrapolate[static_cast<size_t>(j)]) {
        std::fill_n(d, inner, extrapolation);
        continue;
      }
      const int64_t* idx = &t.index[static_cast<size_t>(j * t.taps)];
      const double* w = &t.weight[static_cast<size_t>(j * t.taps)];
      std::fill_n(d, inner, 0.0);
      for (int64_t k = 0; k < t.taps; ++k) {
        const double* row = s + idx[k] * inner;
        const double wk = w[k];
        for (int64_t i = 0; i < inner; ++i) d[i] += wk * row[i];
      }
    }
  }
}

}  // namespace kiln::kernels::ref
