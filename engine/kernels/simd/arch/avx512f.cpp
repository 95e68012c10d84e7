// Every SIMD kernel, instantiated for xsimd::avx512f (compiled with that arch's flags).
#define KILN_SIMD_ARCH xsimd::avx512f
#include "kernels/simd/instantiate.h"
