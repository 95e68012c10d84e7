// Geometry of the Winograd transforms (baseline code: no ISA flags).
#include "kernels/simd/winograd.h"

namespace kiln::simd {

WinogradPlane winograd_plane(int64_t H, int64_t W, int64_t OH, int64_t OW, int64_t pad_top,
                             int64_t pad_left) noexcept {
  WinogradPlane p;
  p.H = H;
  p.W = W;
  p.OH = OH;
  p.OW = OW;
  p.pad_top = pad_top;
  p.pad_left = pad_left;
  p.TH = (OH + kWinogradTile - 1) / kWinogradTile;
  p.TW = (OW + kWinogradTile - 1) / kWinogradTile;
  return p;
}

int64_t winograd_input_scratch_floats(const WinogradPlane& p) noexcept {
  const detail::WinogradInputLayout l = detail::winograd_input_layout(p);
  return 24 * l.plane_floats + (4 * p.TH + 2) * l.row_floats;
}

}  // namespace kiln::simd
