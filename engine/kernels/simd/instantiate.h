// Included by each engine/kernels/simd/arch/<arch>.cpp with KILN_SIMD_ARCH
// defined: instantiates every SIMD kernel for that arch. A new kernel adds its
// _impl.h and its INSTANTIATE line here.
#ifndef KILN_SIMD_ARCH
#error "define KILN_SIMD_ARCH before including instantiate.h"
#endif

#include "kernels/simd/affine_impl.h"
#include "kernels/simd/affine_act_impl.h"
#include "kernels/simd/activation_impl.h"
#include "kernels/simd/binary_impl.h"
#include "kernels/simd/conv_small_c_impl.h"
#include "kernels/simd/dwconv_impl.h"
#include "kernels/simd/pool_impl.h"
#include "kernels/simd/reduce_impl.h"
#include "kernels/simd/winograd_impl.h"

KILN_SIMD_AFFINE_INSTANTIATE(KILN_SIMD_ARCH)
KILN_SIMD_AFFINE_ACT_INSTANTIATE(KILN_SIMD_ARCH)
KILN_SIMD_ACTIVATION_INSTANTIATE(KILN_SIMD_ARCH)
KILN_SIMD_BINARY_INSTANTIATE(KILN_SIMD_ARCH)
KILN_SIMD_CONV_SMALL_C_INSTANTIATE(KILN_SIMD_ARCH)
KILN_SIMD_DWCONV_INSTANTIATE(KILN_SIMD_ARCH)
KILN_SIMD_POOL_INSTANTIATE(KILN_SIMD_ARCH)
KILN_SIMD_REDUCE_INSTANTIATE(KILN_SIMD_ARCH)
KILN_SIMD_WINOGRAD_INSTANTIATE(KILN_SIMD_ARCH)

#include "kernels/simd/gemm_impl.h"
#include "kernels/simd/gemv_impl.h"

KILN_SIMD_GEMM_INSTANTIATE(KILN_SIMD_ARCH)
KILN_SIMD_GEMV_INSTANTIATE(KILN_SIMD_ARCH)
