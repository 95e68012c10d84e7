// Reference N-D convolution (ONNX Conv), NCHW layout, any number of spatial
// axes, groups, strides, dilations and (begin) pads:
//
//   Y[n, g·Mg + m, o] = B[g·Mg + m]
//                     + Σ_{c<Cg} Σ_k W[g·Mg + m, c, k] · X[n, g·Cg + c, o·s + k·d − p]
//
// with o, k, s, d, p multi-indices over the spatial axes, X read as 0 outside
// its extent, Cg = C / group and Mg = M / group. Computed as im2col of a block
// of output columns followed by the reference GEMM (double accumulation), split
// over (batch, group, column block, and output-channel block for small maps)
// with runtime::parallel_for; every output element is computed the same way
// whatever the split.
#pragma once

#include <cstdint>
#include <vector>

namespace kiln::kernels::ref {

// Sizes of a convolution or transposed convolution. `in_spatial`/`out_spatial`
// are the spatial extents of X and Y; pads_begin is the leading padding of each
// axis (the trailing padding only shapes out_spatial, already resolved here).
// For ConvTranspose pads may be negative (the output then extends past the
// scattered region and holds the bias there).
struct ConvShape {
  int64_t batch = 1;
  int64_t in_channels = 1;   // C
  int64_t out_channels = 1;  // M
  int64_t group = 1;
  std::vector<int64_t> in_spatial, out_spatial, kernel, strides, dilations, pads_begin;
};

// Conv: W is M × (C/group) × k…; bias (length M) may be null. Y is written, not
// accumulated into.
void conv_f32(const ConvShape& s, const float* x, const float* w, const float* bias, float* y);
void conv_f64(const ConvShape& s, const double* x, const double* w, const double* bias, double* y);

}  // namespace kiln::kernels::ref
