// Geometry, workspace layout and weight packing of the few-input-channel
// convolution (baseline code: no ISA flags).
#include "kernels/simd/conv_small_c.h"

#include <algorithm>

namespace kiln::simd {

namespace detail {

namespace {
int64_t round_up(int64_t v, int64_t m) { return (v + m - 1) / m * m; }
}  // namespace

// SW = 1: a row holds padded input columns j − pad_left for j < OWr + KW − 1.
// SW = 2: even columns e[j] = X(2j − pl), then odd ones o[j] = X(2j + 1 − pl),
// j < OWr + (KW − 1)/2 each (the last vector reads up to entry
// OWr − 1 + (KW − 1)/2 of a half); a staging row of 2·half padded columns
// follows the rows.
SmallCLayout small_c_layout(const SmallCConvParams& p, int64_t rows_out) noexcept {
  SmallCLayout l{};
  const int64_t owr = round_up(p.OW, kSmallCMaxLanes);
  l.rows = (rows_out - 1) * p.stride_h + p.KH;
  if (p.stride_w == 1) {
    l.half = 0;
    l.row_floats = round_up(owr + p.KW - 1, kSmallCMaxLanes);
    l.stage = l.rows * p.C * l.row_floats;
    l.total = l.stage;
  } else {
    l.half = round_up(owr + (p.KW - 1) / 2, kSmallCMaxLanes);
    l.row_floats = 2 * l.half;
    l.stage = l.rows * p.C * l.row_floats;
    l.total = l.stage + 2 * l.half;
  }
  return l;
}

}  // namespace detail

bool conv_small_c_supported(const SmallCConvParams& p) noexcept {
  return p.C >= 1 && p.C <= kSmallCMaxChannels && p.M >= 1 && p.H > 0 && p.W > 0 && p.OH > 0 && p.OW > 0 &&
         p.KH > 0 && p.KW > 0 && p.stride_h >= 1 && (p.stride_w == 1 || p.stride_w == 2) && p.pad_top >= 0 &&
         p.pad_left >= 0;
}

int64_t conv_small_c_packed_floats(int64_t M, int64_t C, int64_t KH, int64_t KW) noexcept {
  return (M + kSmallCPackM - 1) / kSmallCPackM * kSmallCPackM * C * KH * KW;
}

void pack_conv_small_c_weights(const float* w, int64_t M, int64_t C, int64_t KH, int64_t KW, float* packed) noexcept {
  const int64_t T = C * KH * KW, blocks = (M + kSmallCPackM - 1) / kSmallCPackM;
  for (int64_t b = 0; b < blocks; ++b)
    for (int64_t t = 0; t < T; ++t)
      for (int64_t j = 0; j < kSmallCPackM; ++j) {
        const int64_t m = b * kSmallCPackM + j;
        packed[(b * T + t) * kSmallCPackM + j] = m < M ? w[m * T + t] : 0.f;
      }
}

int64_t conv_small_c_workspace_floats(const SmallCConvParams& p, int64_t rows) noexcept {
  return detail::small_c_layout(p, std::max<int64_t>(rows, 1)).total;
}

}  // namespace kiln::simd
