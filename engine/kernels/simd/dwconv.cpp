// Workspace geometry of the depthwise kernel (baseline code: no ISA flags).
#include "kernels/simd/dwconv.h"

namespace kiln::simd {

namespace detail {

namespace {
int64_t round_up(int64_t v, int64_t m) { return (v + m - 1) / m * m; }
}  // namespace

// S = 1: a row holds padded input columns j − pad_left, j < OWr + K − 1.
// S = 2: even columns e[j] = X(2j − pl) then odd ones o[j] = X(2j + 1 − pl),
// j < OWr + K/2 each; the vector deinterleave writes up to 1.5 vectors past
// the last j, hence the 32 floats of slack per half.
DwLayout dw_layout(const DwConvParams& p) noexcept {
  DwLayout l{};
  const int64_t owr = round_up(p.OW, kMaxLanes);
  l.rows = (p.OH - 1) * p.stride + p.kernel;
  if (p.stride == 1) {
    l.row_floats = round_up(owr + p.kernel - 1, kMaxLanes);
    l.half = 0;
    l.src = l.rows * l.row_floats;
    l.total = l.src;
  } else {
    l.half = round_up(owr + p.kernel / 2, kMaxLanes) + 2 * kMaxLanes;
    l.row_floats = 2 * l.half;
    l.src = l.rows * l.row_floats;
    l.total = l.src + 2 * l.half;
  }
  return l;
}

}  // namespace detail

bool dwconv2d_supported(const DwConvParams& p) noexcept {
  return (p.kernel == 3 || p.kernel == 5) && (p.stride == 1 || p.stride == 2) && p.H > 0 && p.W > 0 && p.OH > 0 &&
         p.OW > 0 && p.pad_top >= 0 && p.pad_left >= 0;
}

int64_t dwconv2d_workspace_floats(const DwConvParams& p) noexcept { return detail::dw_layout(p).total; }

}  // namespace kiln::simd
