// Reference Resize: separable N-D interpolation done one axis at a time.
// For each resized axis, every output position j maps to a source coordinate
// x (the coordinate transformation), then to a few input taps with weights
// (nearest: 1 tap; linear: 2; cubic: 4; antialiased downscaling stretches the
// filter by 1/scale so more taps contribute). The N-D result is the product
// of the 1-D filters, so applying axes in turn gives the same values.
#pragma once

#include <cstdint>
#include <vector>

namespace kiln::kernels::ref {

enum class CoordMode { HalfPixel, HalfPixelSymmetric, PytorchHalfPixel, AlignCorners, Asymmetric, TfCropAndResize };
enum class InterpMode { Nearest, Linear, Cubic };
// "Simple" is Resize-10/Upsample's rule: floor when upsampling, ceil when downsampling.
enum class NearestMode { RoundPreferFloor, RoundPreferCeil, Floor, Ceil, Simple };

struct ResizeAxisParams {
  int64_t in_len = 0, out_len = 0;
  double scale = 1;  // output / input, as given or derived from sizes
  CoordMode coord = CoordMode::HalfPixel;
  InterpMode interp = InterpMode::Nearest;
  NearestMode nearest = NearestMode::RoundPreferFloor;
  double cubic_a = -0.75;
  bool exclude_outside = false;
  bool antialias = false;
  double roi_start = 0, roi_end = 1;  // tf_crop_and_resize only
};

// The 1-D filter of one axis: `taps` (index, weight) pairs per output position,
// indices clamped into [0, in_len); `extrapolate[j]` marks positions whose
// source coordinate lies outside the input (tf_crop_and_resize).
struct ResizeTaps {
  int64_t taps = 0;
  std::vector<int64_t> index;
  std::vector<double> weight;
  std::vector<uint8_t> extrapolate;
};

// Source coordinate of output position j (the coordinate transformation).
double resize_source_coord(const ResizeAxisParams& p, int64_t j);
ResizeTaps resize_taps(const ResizeAxisParams& p);

// Applies one axis's filter to a tensor viewed as [outer, in_len, inner]:
//   dst[o, j, i] = extrapolate[j] ? extrapolation : Σ_k weight[j,k] · src[o, index[j,k], i]
void resize_axis(const double* src, double* dst, int64_t outer, int64_t in_len, int64_t out_len, int64_t inner,
                 const ResizeTaps& taps, double extrapolation) noexcept;

}  // namespace kiln::kernels::ref
