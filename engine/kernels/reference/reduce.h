// Reference reduction of a row-major tensor over a set of axes.
//
// The caller describes the input as two strided index spaces: the kept axes
// (in output order; the output is dense over them) and the reduced axes. Output
// element o, with kept coordinates c, is
//   y[o] = finish(fold(step, init, { x[c·kept_strides + r·red_strides] : r }), count)
// where r runs over the reduced coordinates in row-major order (so sums are
// accumulated in a fixed order: results never depend on how outputs are split).
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

namespace kiln::kernels::ref {

struct ReduceLayout {
  std::vector<int64_t> kept_dims, kept_strides;  // outer → inner
  std::vector<int64_t> red_dims, red_strides;    // outer → inner
  int64_t reduced_count() const {
    int64_t n = 1;
    for (int64_t d : red_dims) n *= d;
    return n;
  }
};

// Op provides: using Acc; Acc init() const; void step(Acc&, T) const; T finish(Acc, int64_t count) const.
template <class T, class Op>
void reduce_strided(const T* x, T* y, const ReduceLayout& l, const Op& op, int64_t out_begin, int64_t out_end) noexcept {
  const size_t nk = l.kept_dims.size(), nr = l.red_dims.size();
  const int64_t count = l.reduced_count();
  // Innermost reduced axis runs as a plain strided loop; the others by odometer.
  const int64_t inner_n = nr ? l.red_dims[nr - 1] : 1;
  const int64_t inner_s = nr ? l.red_strides[nr - 1] : 0;
  std::vector<int64_t> rc(nr > 0 ? nr - 1 : 0);
  for (int64_t o = out_begin; o < out_end; ++o) {
    // Input offset of the kept coordinates of o.
    int64_t base = 0;
    for (int64_t rem = o, i = static_cast<int64_t>(nk) - 1; i >= 0; --i) {
      base += (rem % l.kept_dims[i]) * l.kept_strides[i];
      rem /= l.kept_dims[i];
    }
    auto acc = op.init();
    if (count > 0) {
      std::fill(rc.begin(), rc.end(), 0);
      int64_t off = base;
      for (;;) {
        const T* p = x + off;
        for (int64_t j = 0; j < inner_n; ++j) op.step(acc, p[j * inner_s]);
        // Advance the outer reduced coordinates (all but the innermost).
        int64_t a = static_cast<int64_t>(rc.size()) - 1;
        for (; a >= 0; --a) {
          off += l.red_strides[a];
          if (++rc[a] < l.red_dims[a]) break;
          off -= rc[a] * l.red_strides[a];
          rc[a] = 0;
        }
        if (a < 0) break;
      }
    }
    y[o] = op.finish(acc, count);
  }
}

}  // namespace kiln::kernels::ref
