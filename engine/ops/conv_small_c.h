// Few-input-channel float32 Conv fast path (kernels/simd/conv_small_c.h): the
// direct kernel for the first layer of image CNNs, taken from conv.cpp's
// compute where the rule below prefers it; weights packed at session creation.
#pragma once

#include <memory>

#include "kernels/reference/conv.h"
#include "kernels/simd/activation.h"
#include "kernels/simd/conv_small_c.h"
#include "kernels/simd/gemm_driver.h"
#include "ops/op.h"

namespace kiln::ops {

// W (M × C × KH × KW) packed for the kernel.
struct SmallCWeights {
  int64_t M = 0, C = 0, KH = 0, KW = 0;
  simd::AlignedFloats packed;
};

// A 2-D Conv the kernel computes: group 1, C ≤ 4, dilation 1, stride_w 1 or 2.
bool small_c_geometry(const kernels::ref::ConvShape& s);
// Whether the direct kernel is the faster path for this geometry (the rule
// measured in conv_small_c.cpp).
bool small_c_preferred(const kernels::ref::ConvShape& s);

std::shared_ptr<const SmallCWeights> small_c_weights(const float* w, int64_t M, int64_t C, int64_t KH, int64_t KW);

// Y = act(conv(X) + bias (+ Z)) for a Conv with small_c_geometry(s), on the
// session's threads; z (residual, Y's shape) and bias may be null. Results do
// not depend on the number of threads.
void small_c_conv_f32(const SmallCWeights& u, const kernels::ref::ConvShape& s, const float* x, const float* bias,
                      const float* z, const simd::ActParams& act, float* y);

// The op-level entry: runs the direct kernel when u is set, matches W, the
// geometry fits and the rule prefers it, applying a kiln.FusedConv node's
// epilogue (and marking it applied). Returns false, leaving Y alone, otherwise.
bool run_small_c_f32(ComputeContext& ctx, const SmallCWeights* u, const kernels::ref::ConvShape& s, const Tensor& x,
                     const Tensor* b, Tensor& y);

}  // namespace kiln::ops
