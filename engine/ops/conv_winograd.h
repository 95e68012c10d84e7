// Winograd F(4×4, 3×3) path of the float32 Conv (kernels/simd/winograd.h for
// the transforms): 3×3, stride 1, dilation 1, group 1, any pads and batch.
// The filter transform runs once at session creation, straight into the
// SGEMM's packed-A layout. Each run takes the tiles (flattened over the
// batch) a block at a time: the input transform writes V_ξ [C × tiles] in the
// SGEMM's packed-B layout, the packed SGEMM forms M_ξ = U_ξ [M × C] · V_ξ
// (one GEMM per transform element ξ, V read in place) and the output
// transform writes Y with the fused epilogue (bias, residual, activation).
#pragma once

#include <memory>

#include "kernels/reference/conv.h"
#include "kernels/simd/activation.h"
#include "kernels/simd/gemm_driver.h"
#include "ops/op.h"

namespace kiln::ops {

// The 36 transformed filters U_ξ (M × C), each packed as the SGEMM's A, in
// one allocation (4× the filter's floats).
struct WinogradWeights {
  int64_t M = 0, C = 0;
  int64_t stride = 0;  // floats from U_ξ to U_ξ+1
  struct Free {
    void operator()(float* p) const noexcept;
  };
  std::unique_ptr<float[], Free> data;
  const float* u(int64_t xi) const { return data.get() + xi * stride; }
};

// A 2-D Conv the transforms compute: 3×3, stride 1, dilation 1, group 1.
bool winograd_geometry(const kernels::ref::ConvShape& s);
// Whether Winograd is the faster path for C → M channels on OH × OW output
// maps (the rule measured in conv_winograd.cpp). OH/OW < 0: unknown yet, in
// which case the answer is whether it could be for some map size.
bool winograd_preferred(int64_t C, int64_t M, int64_t OH, int64_t OW);

// U from W (M × C × 3 × 3, float32).
std::shared_ptr<const WinogradWeights> winograd_weights(const float* w, int64_t M, int64_t C);

// Y = act(conv(X) + bias (+ Z)) for a Conv with winograd_geometry(s), on the
// session's threads; z (residual, Y's shape) and bias may be null. Results do
// not depend on the number of threads.
void winograd_conv_f32(const WinogradWeights& u, const kernels::ref::ConvShape& s, const float* x, const float* bias,
                       const float* z, const simd::ActParams& act, float* y);

// The op-level entry: runs the Winograd path when u is set, the geometry fits
// and the rule prefers it, applying a kiln.FusedConv node's epilogue (and
// marking it applied). Returns false, leaving Y alone, otherwise.
bool run_winograd_f32(ComputeContext& ctx, const WinogradWeights* u, const kernels::ref::ConvShape& s,
                      const Tensor& x, const Tensor* b, Tensor& y);

}  // namespace kiln::ops
