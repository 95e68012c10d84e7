// What Conv, ConvTranspose, Gemm and MatMul share on their float32 fast path
// (the packed SGEMM of kernels/simd/gemm_driver.h): the fused epilogue of a
// kiln.Fused<Op> node turned into the GEMM's epilogue.
#pragma once

#include <vector>

#include "kernels/simd/gemm.h"
#include "ops/op.h"

namespace kiln::ops {

// When ctx runs a kiln.Fused<Op> node whose epilogue the GEMM can apply
// in registers (residual, if any, float32 of shape y_shape), sets ep's
// activation and residual (row stride: y's last dim; the caller offsets it
// per image/group) and returns true; the caller marks the epilogue applied
// once the GEMM has run. Otherwise leaves ep alone and returns false.
bool gemm_fused_epilogue(const ComputeContext& ctx, const std::vector<int64_t>& y_shape, simd::GemmEpilogue* ep);

}  // namespace kiln::ops
