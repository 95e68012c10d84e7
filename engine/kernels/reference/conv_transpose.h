// Reference N-D transposed convolution (ONNX ConvTranspose), NCHW layout. It
// is the adjoint of Conv's data path: every input element scatters its
// weighted kernel into the output,
//
//   Y[n, g·Mg + m, i·s + k·d − p] += X[n, g·Cg + c, i] · W[g·Cg + c, m, k]
//
// summed over c < Cg, every input position i and kernel position k, landing
// positions outside Y dropped, then Y += B. Computed as a GEMM
// col = W_gᵀ · X_g ((Mg·K) × spatial) followed by a col2im scatter-add in double,
// split over (batch, group, output-channel block): each task owns its output
// channels, so the result does not depend on the split.
#pragma once

#include "kernels/reference/conv.h"

namespace kiln::kernels::ref {

// W is C × (M/group) × k…; bias (length M) may be null. Y is written.
void conv_transpose_f32(const ConvShape& s, const float* x, const float* w, const float* bias, float* y);
void conv_transpose_f64(const ConvShape& s, const double* x, const double* w, const double* bias, double* y);

}  // namespace kiln::kernels::ref
