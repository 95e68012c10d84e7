// Scalar Winograd F(4×4, 3×3) transforms (the matrices are in
// kernels/simd/winograd.h), computed in double: the filter transform the
// Conv op prepares once, and the tile transforms the SIMD kernels are tested
// against.
#pragma once

#include <cstdint>

namespace kiln::kernels::ref {

// u[ξ·M·C + o·C + c] = (G w[o, c] Gᵀ)[ξ] for a float32 M × C × 3 × 3 filter.
void winograd_f4x3_filter(const float* w, int64_t M, int64_t C, float* u);
// v = Bᵀ d B of one 6×6 tile (row-major).
void winograd_f4x3_input_tile(const float d[36], double v[36]);
// y = Aᵀ m A: the 4×4 output tile (row-major) of one 6×6 product tile.
void winograd_f4x3_output_tile(const double m[36], double y[16]);

}  // namespace kiln::kernels::ref
