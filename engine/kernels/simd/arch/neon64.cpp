// Every SIMD kernel, instantiated for xsimd::neon64 (compiled with that arch's flags).
#define KILN_SIMD_ARCH xsimd::neon64
#include "kernels/simd/instantiate.h"
