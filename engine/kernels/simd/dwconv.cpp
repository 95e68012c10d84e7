// Workspace geometry of the depthwise kernel (baseline code: no ISA flags).
#include "kernels/simd/dwconv.h"

#include <algorithm>

namespace kiln::simd {

namespace {
constexpr int64_t kBlockedMaxBytes = int64_t{512} << 10;
}  // namespace

namespace detail {

namespace {
// Target floats of u per band: with its input rows (about as many floats
// again) a band stays within a 48 KiB L1.
constexpr int64_t kBandFloats = 2048;
}  // namespace

// S = 1: the padded plane, rows r < OH + K − 1 holding input row r − pt.
// S = 2: four sub-planes of OH + (K − 1)/2 rows each (padded rows
// r < 2·OH + K − 1), then the staging row of 2·P floats.
DwLayout dw_layout(const DwConvParams& p) noexcept {
  DwLayout l{};
  const int64_t k1 = p.kernel - 1;
  l.pitch = p.stride == 1 ? p.OW + k1 : p.OW + k1 / 2;
  l.rows = p.stride == 1 ? p.OH + k1 : p.OH + k1 / 2;
  l.plane = l.rows * l.pitch + kSlack;
  l.band = std::clamp<int64_t>(kBandFloats / l.pitch, 1, p.OH);
  const int64_t planes = p.stride == 1 ? 1 : 4;
  l.stage = planes * l.plane;
  l.out = l.stage + (p.stride == 1 ? 0 : 2 * l.pitch + kSlack);
  l.total = l.out + l.band * l.pitch + kSlack;
  return l;
}

DwBlockedLayout dw_blocked_layout(const DwConvParams& p) noexcept {
  DwBlockedLayout l{};
  l.rows = std::max(p.pad_top + p.H, (p.OH - 1) * p.stride + p.kernel);
  l.pitch = std::max(p.pad_left + p.W, (p.OW - 1) * p.stride + p.kernel);
  l.out = l.rows * l.pitch * kMaxLanes;
  l.total = l.out + (p.OH * p.OW + kMaxLanes - 1) / kMaxLanes * kMaxLanes * kMaxLanes;
  return l;
}

}  // namespace detail

bool dwconv2d_supported(const DwConvParams& p) noexcept {
  return (p.kernel == 3 || p.kernel == 5) && (p.stride == 1 || p.stride == 2) && p.H > 0 && p.W > 0 && p.OH > 0 &&
         p.OW > 0 && p.pad_top >= 0 && p.pad_left >= 0;
}

int64_t dwconv2d_workspace_floats(const DwConvParams& p) noexcept { return detail::dw_layout(p).total; }

int64_t dwconv2d_blocked_workspace_floats(const DwConvParams& p) noexcept { return detail::dw_blocked_layout(p).total; }

bool dwconv2d_prefer_blocked(const DwConvParams& p) noexcept {
  // Measured (bench/kernel_bench.cpp, depthwise/ entries): the blocked kernel
  // wins while its workspace stays within L2.
  return dwconv2d_supported(p) && detail::dw_blocked_layout(p).total * int64_t{sizeof(float)} <= kBlockedMaxBytes;
}

}  // namespace kiln::simd
