#include "kernels/reference/pool.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

namespace kiln::kernels::ref {

namespace {

// For each output position o of one axis, the kernel taps [lo, hi) that land
// inside the input: 0 <= o·stride − pad_begin + k·dilation < in.
struct AxisTaps {
  std::vector<int64_t> start, lo, hi;
};

AxisTaps axis_taps(const PoolGeometry& g, int a) {
  AxisTaps t;
  int64_t n = g.out[a];
  t.start.resize(n);
  t.lo.resize(n);
  t.hi.resize(n);
  for (int64_t o = 0; o < n; ++o) {
    int64_t s = o * g.stride[a] - g.pad_begin[a];
    int64_t d = g.dilation[a];
    int64_t lo = s >= 0 ? 0 : (-s + d - 1) / d;                      // first k with s + k·d >= 0
    int64_t hi = g.in[a] > s ? (g.in[a] - s + d - 1) / d : 0;         // k < (in − s) / d
    hi = std::min(hi, g.kernel[a]);
    t.start[o] = s;
    t.lo[o] = lo;
    t.hi[o] = std::max(hi, lo);
  }
  return t;
}

// Window taps counted by count_include_pad = 1: those inside [−pad_begin, in + pad_end).
int64_t padded_taps(const PoolGeometry& g, int a, int64_t start) {
  int64_t d = g.dilation[a], lo_bound = -g.pad_begin[a], hi_bound = g.in[a] + g.pad_end[a];
  int64_t lo = start >= lo_bound ? 0 : (lo_bound - start + d - 1) / d;
  int64_t hi = hi_bound > start ? std::min(g.kernel[a], (hi_bound - start + d - 1) / d) : 0;
  return std::max<int64_t>(hi - lo, 0);
}

}  // namespace

template <class T>
void max_pool(const T* x, T* y, int64_t* indices, const PoolGeometry& g, int storage_order, int64_t plane_begin,
              int64_t plane_end) noexcept {
  const AxisTaps td = axis_taps(g, 0), th = axis_taps(g, 1), tw = axis_taps(g, 2);
  const int64_t in_plane = g.in_plane(), out_plane = g.out_plane();
  const int64_t H = g.in[1], W = g.in[2], D = g.in[0];
  for (int64_t p = plane_begin; p < plane_end; ++p) {
    const T* xp = x + p * in_plane;
    T* yp = y + p * out_plane;
    int64_t* ip = indices ? indices + p * out_plane : nullptr;
    for (int64_t od = 0; od < g.out[0]; ++od)
      for (int64_t oh = 0; oh < g.out[1]; ++oh)
        for (int64_t ow = 0; ow < g.out[2]; ++ow) {
          int64_t o = (od * g.out[1] + oh) * g.out[2] + ow;
          if (!ip) {
            // Values only: a branch-free running max.
            T best = std::numeric_limits<T>::lowest();
            for (int64_t kd = td.lo[od]; kd < td.hi[od]; ++kd) {
              int64_t id = td.start[od] + kd * g.dilation[0];
              for (int64_t kh = th.lo[oh]; kh < th.hi[oh]; ++kh) {
                const T* row = xp + (id * H + th.start[oh] + kh * g.dilation[1]) * W + tw.start[ow];
                for (int64_t kw = tw.lo[ow]; kw < tw.hi[ow]; ++kw) {
                  T v = row[kw * g.dilation[2]];
                  best = v > best ? v : best;
                }
              }
            }
            yp[o] = best;
            continue;
          }
          T best = std::numeric_limits<T>::lowest();
          int64_t best_d = -1, best_h = -1, best_w = -1;
          for (int64_t kd = td.lo[od]; kd < td.hi[od]; ++kd) {
            int64_t id = td.start[od] + kd * g.dilation[0];
            for (int64_t kh = th.lo[oh]; kh < th.hi[oh]; ++kh) {
              int64_t ih = th.start[oh] + kh * g.dilation[1];
              const T* row = xp + (id * H + ih) * W;
              for (int64_t kw = tw.lo[ow]; kw < tw.hi[ow]; ++kw) {
                int64_t iw = tw.start[ow] + kw * g.dilation[2];
                // Strictly greater keeps the first maximum in window order.
                if (row[iw] > best || best_d < 0) {
                  best = row[iw];
                  best_d = id;
                  best_h = ih;
                  best_w = iw;
                }
              }
            }
          }
          yp[o] = best;
          if (best_d < 0) {
            ip[o] = -1;
          } else {
            // Column-major: the first real spatial axis varies fastest; size-1
            // leading axes contribute nothing either way.
            int64_t flat = storage_order == 0 ? (best_d * H + best_h) * W + best_w : best_d + D * (best_h + H * best_w);
            ip[o] = p * in_plane + flat;
          }
        }
  }
}

template <class T>
void average_pool(const T* x, T* y, const PoolGeometry& g, bool count_include_pad, int64_t plane_begin,
                  int64_t plane_end) noexcept {
  const AxisTaps td = axis_taps(g, 0), th = axis_taps(g, 1), tw = axis_taps(g, 2);
  const int64_t in_plane = g.in_plane(), out_plane = g.out_plane();
  const int64_t H = g.in[1], W = g.in[2];
  std::vector<int64_t> pd(g.out[0]), ph(g.out[1]), pw(g.out[2]);
  for (int64_t o = 0; o < g.out[0]; ++o) pd[o] = padded_taps(g, 0, td.start[o]);
  for (int64_t o = 0; o < g.out[1]; ++o) ph[o] = padded_taps(g, 1, th.start[o]);
  for (int64_t o = 0; o < g.out[2]; ++o) pw[o] = padded_taps(g, 2, tw.start[o]);
  for (int64_t p = plane_begin; p < plane_end; ++p) {
    const T* xp = x + p * in_plane;
    T* yp = y + p * out_plane;
    for (int64_t od = 0; od < g.out[0]; ++od)
      for (int64_t oh = 0; oh < g.out[1]; ++oh)
        for (int64_t ow = 0; ow < g.out[2]; ++ow) {
          double sum = 0;
          for (int64_t kd = td.lo[od]; kd < td.hi[od]; ++kd) {
            int64_t id = td.start[od] + kd * g.dilation[0];
            for (int64_t kh = th.lo[oh]; kh < th.hi[oh]; ++kh) {
              int64_t ih = th.start[oh] + kh * g.dilation[1];
              const T* row = xp + (id * H + ih) * W;
              for (int64_t kw = tw.lo[ow]; kw < tw.hi[ow]; ++kw) sum += row[tw.start[ow] + kw * g.dilation[2]];
            }
          }
          int64_t count = count_include_pad
                              ? pd[od] * ph[oh] * pw[ow]
                              : (td.hi[od] - td.lo[od]) * (th.hi[oh] - th.lo[oh]) * (tw.hi[ow] - tw.lo[ow]);
          // An empty window (possible only with padding wider than the kernel
          // reach) has no average: NaN, as 0/0.
          yp[(od * g.out[1] + oh) * g.out[2] + ow] =
              static_cast<T>(count > 0 ? sum / static_cast<double>(count) : std::numeric_limits<double>::quiet_NaN());
        }
  }
}

template <class T>
void global_max_pool(const T* x, T* y, int64_t plane_size, int64_t plane_begin, int64_t plane_end) noexcept {
  for (int64_t p = plane_begin; p < plane_end; ++p) {
    const T* xp = x + p * plane_size;
    T best = std::numeric_limits<T>::lowest();
    for (int64_t i = 0; i < plane_size; ++i) best = std::max(best, xp[i]);
    y[p] = best;
  }
}

template <class T>
void global_average_pool(const T* x, T* y, int64_t plane_size, int64_t plane_begin, int64_t plane_end) noexcept {
  for (int64_t p = plane_begin; p < plane_end; ++p) {
    const T* xp = x + p * plane_size;
    // Eight interleaved partial sums: a fixed order that vectorizes.
    double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int64_t i = 0;
    for (; i + 8 <= plane_size; i += 8)
      for (int j = 0; j < 8; ++j) acc[j] += xp[i + j];
    for (; i < plane_size; ++i) acc[i % 8] += xp[i];
    double sum = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
    y[p] = static_cast<T>(plane_size > 0 ? sum / static_cast<double>(plane_size)
                                         : std::numeric_limits<double>::quiet_NaN());
  }
}

template void max_pool(const float*, float*, int64_t*, const PoolGeometry&, int, int64_t, int64_t) noexcept;
template void max_pool(const double*, double*, int64_t*, const PoolGeometry&, int, int64_t, int64_t) noexcept;
template void max_pool(const int8_t*, int8_t*, int64_t*, const PoolGeometry&, int, int64_t, int64_t) noexcept;
template void max_pool(const uint8_t*, uint8_t*, int64_t*, const PoolGeometry&, int, int64_t, int64_t) noexcept;
template void average_pool(const float*, float*, const PoolGeometry&, bool, int64_t, int64_t) noexcept;
template void average_pool(const double*, double*, const PoolGeometry&, bool, int64_t, int64_t) noexcept;
template void global_max_pool(const float*, float*, int64_t, int64_t, int64_t) noexcept;
template void global_max_pool(const double*, double*, int64_t, int64_t, int64_t) noexcept;
template void global_average_pool(const float*, float*, int64_t, int64_t, int64_t) noexcept;
template void global_average_pool(const double*, double*, int64_t, int64_t, int64_t) noexcept;

}  // namespace kiln::kernels::ref
