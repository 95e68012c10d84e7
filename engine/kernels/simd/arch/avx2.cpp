// Every SIMD kernel, instantiated for xsimd::fma3<xsimd::avx2> (compiled with that arch's flags).
#define KILN_SIMD_ARCH xsimd::fma3<xsimd::avx2>
#include "kernels/simd/instantiate.h"
