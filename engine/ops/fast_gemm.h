// What Conv, ConvTranspose, Gemm and MatMul share on their float32 fast path
// (the packed SGEMM of kernels/simd/gemm_driver.h): the fused epilogue of a
// kiln.Fused<Op> node turned into the GEMM's epilogue, and the entry point
// that sends one-row and one-column products to the GEMV kernels.
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

// Whether run_sgemm sends p to the GEMV kernels (kernels/simd/gemv.h): M = 1
// with B' prepacked, or N = 1 with A' prepacked and a contiguous column of C
// (ldc = 1), K >= 1, B' not an im2col.
bool gemv_eligible(const simd::SgemmProblem& p);

// Computes p like simd::sgemm (same epilogue, same thread rule: results do
// not depend on the thread count), on the GEMV kernels when gemv_eligible(p).
// Returns whether it did.
bool run_sgemm(const simd::SgemmProblem& p, bool threaded = true);

// The kernel name for profiles: "gemv_<arch>" when gemv_eligible(p), else
// simd::gemm_kernel_name(sgemm_prefix).
const char* sgemm_kernel_name(const simd::SgemmProblem& p, const char* sgemm_prefix = "sgemm");

}  // namespace kiln::ops
