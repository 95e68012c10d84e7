// Row reductions over contiguous float32 runs, and softmax over one row.
// Sums use vector float partial sums over blocks of kSumBlock elements, each
// block's total added in double: a fixed order for a given n (results do not
// depend on threading) and an error that does not grow with the row length.
#pragma once

#include <cstdint>

#include "kernels/simd/arch.h"

namespace kiln::simd {

inline constexpr int64_t kSumBlock = 1024;

// Σ x[i], i < n.
struct sum_f32 {
  template <class Arch>
  double operator()(Arch, const float* x, int64_t n) const noexcept;
};
// Σ (x[i] − mean)², i < n: the second pass of a two-pass variance.
struct sum_sq_dev_f32 {
  template <class Arch>
  double operator()(Arch, const float* x, int64_t n, float mean) const noexcept;
};
// max x[i] (−inf for n = 0; NaN inputs are ignored unless all are NaN).
struct max_f32 {
  template <class Arch>
  float operator()(Arch, const float* x, int64_t n) const noexcept;
};
// The reduction of ReduceSum / ReduceMean / ReduceMax / ReduceMin over one run
// of the input. Sum: blocks of kSumBlock terms summed in float vectors, each
// block's total added in double, the total times `scale` (1, or 1/count for a
// mean). Max / Min: a NaN operand makes the result NaN (numpy's rule, as the
// reference kernel), otherwise the largest / smallest; ±inf over an empty set.
enum class ReduceOp { Sum, Max, Min };

// One output: ⊕ x[i], i < n (the reduced elements contiguous).
struct reduce_run_f32 {
  template <class Arch>
  float operator()(Arch, const float* x, int64_t n, ReduceOp op, double scale) const noexcept;
};
// n outputs at once, the reduced axis outermost: y[j] = ⊕_{r < rows} x[r·ld + j]
// for j < n (each output sums its rows in the same blocks, whatever n is).
struct reduce_rows_f32 {
  template <class Arch>
  void operator()(Arch, const float* x, int64_t rows, int64_t ld, int64_t n, ReduceOp op, double scale,
                  float* y) const noexcept;
};

// One row: y = softmax(x) or, with log, logsoftmax(x); m = max, s = Σ e^(x − m):
//   softmax y = e^(x − m) / s,   logsoftmax y = x − (m + ln s).
// y may alias x.
struct softmax_row_f32 {
  template <class Arch>
  void operator()(Arch, const float* x, float* y, int64_t n, bool log) const noexcept;
};

#define KILN_SIMD_REDUCE_EXTERN(Arch)                                                                      \
  extern template double sum_f32::operator()<Arch>(Arch, const float*, int64_t) const noexcept;            \
  extern template double sum_sq_dev_f32::operator()<Arch>(Arch, const float*, int64_t, float) const noexcept; \
  extern template float max_f32::operator()<Arch>(Arch, const float*, int64_t) const noexcept;             \
  extern template void softmax_row_f32::operator()<Arch>(Arch, const float*, float*, int64_t, bool) const noexcept; \
  extern template float reduce_run_f32::operator()<Arch>(Arch, const float*, int64_t, ReduceOp, double) const noexcept; \
  extern template void reduce_rows_f32::operator()<Arch>(Arch, const float*, int64_t, int64_t, int64_t, ReduceOp, \
                                                         double, float*) const noexcept;
KILN_SIMD_FOR_EACH_ARCH(KILN_SIMD_REDUCE_EXTERN)
#undef KILN_SIMD_REDUCE_EXTERN

}  // namespace kiln::simd
