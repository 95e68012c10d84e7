// Reference (log-)softmax over the middle axis of an [outer, n, inner] view:
//   m = max_k x[o, k, i],  s = Σ_k exp(x[o, k, i] − m)
//   softmax:    y[o, k, i] = exp(x[o, k, i] − m) / s
//   logsoftmax: y[o, k, i] = x[o, k, i] − m − log(s)
// Subtracting the max keeps exp from overflowing. Work is split into items:
// item t covers outer row t / blocks and a block of up to kSoftmaxBlock inner
// columns (t % blocks), so calls over disjoint item ranges may run in parallel.
#pragma once

#include <cstdint>

namespace kiln::kernels::ref {

inline constexpr int64_t kSoftmaxBlock = 64;

// Number of work items for the view.
inline int64_t softmax_items(int64_t outer, int64_t inner) {
  return outer * ((inner + kSoftmaxBlock - 1) / kSoftmaxBlock);
}

template <class T>
void softmax(const T* x, T* y, int64_t outer, int64_t n, int64_t inner, bool log, int64_t item_begin,
             int64_t item_end) noexcept;

}  // namespace kiln::kernels::ref
