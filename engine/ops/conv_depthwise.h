// Depthwise float32 Conv fast path (kernels/simd/dwconv.h), taken from
// conv.cpp's compute when the geometry fits; the reference handles the rest.
#pragma once

#include "kernels/reference/conv.h"
#include "kernels/simd/dwconv.h"
#include "ops/op.h"

namespace kiln::ops {

// Computes Y (already allocated, of the resolved shape) when the Conv is a 2-D
// depthwise one the SIMD kernel covers (group = C = M, K×K with K ∈ {3, 5},
// equal strides 1 or 2, dilation 1) and returns true; false leaves Y alone.
// On a kiln.FusedConv node it also applies the node's epilogue (bias, then
// residual, then activation) and marks it applied.
// The kernel over a whole NCHW tensor (batch × C planes; w: C × K × K; b, z
// may be null) on the current task arena: the per-plane kernel, or with
// `blocked` the channel-blocked one (simd::dwconv2d_prefer_blocked says which
// wins).
void depthwise_conv_f32(const simd::DwConvParams& p, int64_t batch, int64_t C, const float* x, const float* w,
                        const float* b, const float* z, float* y, bool blocked);

bool run_depthwise_f32(ComputeContext& ctx, const kernels::ref::ConvShape& s, const Tensor& x, const Tensor& w,
                       const Tensor* b, Tensor& y);

}  // namespace kiln::ops
