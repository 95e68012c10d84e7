// Every SIMD kernel, instantiated for xsimd::sse2 (compiled with that arch's flags).
#define KILN_SIMD_ARCH xsimd::sse2
#include "kernels/simd/instantiate.h"
