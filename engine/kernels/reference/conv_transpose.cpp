#include "kernels/reference/conv_transpose.h"

#include <algorithm>

#include "kernels/reference/gemm.h"
#include "runtime/parallel.h"

namespace kiln::kernels::ref {

namespace {

int64_t product(const std::vector<int64_t>& v) {
  int64_t p = 1;
  for (int64_t d : v) p *= d;
  return p;
}

// col = Aᵀ · B with A stored K × M (row stride lda).
void gemm_at(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* B, int64_t ldb, float* C) {
  gemm_f32(true, false, M, N, K, 1.f, A, lda, B, ldb, 0.f, C, N);
}
void gemm_at(int64_t M, int64_t N, int64_t K, const double* A, int64_t lda, const double* B, int64_t ldb,
             double* C) {
  gemm_f64(true, false, M, N, K, 1.0, A, lda, B, ldb, 0.0, C, N);
}

template <class T>
void conv_transpose(const ConvShape& s, const T* x, const T* w, const T* bias, T* y) {
  const size_t r = s.kernel.size();
  const int64_t G = s.group, Cg = s.in_channels / G, Mg = s.out_channels / G;
  const int64_t KS = product(s.kernel), isp = product(s.in_spatial), osp = product(s.out_spatial);
  if (osp <= 0) return;

  // origin[d·isp + i] = i_d·s_d − p_d: where tap 0 of input position i lands on axis d.
  std::vector<int64_t> origin(r * static_cast<size_t>(isp));
  {
    std::vector<int64_t> idx(r, 0);
    for (int64_t i = 0; i < isp; ++i) {
      for (size_t d = 0; d < r; ++d) origin[d * isp + i] = idx[d] * s.strides[d] - s.pads_begin[d];
      for (size_t d = r; d-- > 0;) {
        if (++idx[d] < s.in_spatial[d]) break;
        idx[d] = 0;
      }
    }
  }
  // tap[d·KS + kk] = k_d·d_d: the dilated displacement of kernel tap kk on axis d.
  std::vector<int64_t> tap(r * static_cast<size_t>(KS));
  {
    std::vector<int64_t> k(r, 0);
    for (int64_t kk = 0; kk < KS; ++kk) {
      for (size_t d = 0; d < r; ++d) tap[d * KS + kk] = k[d] * s.dilations[d];
      for (size_t d = r; d-- > 0;) {
        if (++k[d] < s.kernel[d]) break;
        k[d] = 0;
      }
    }
  }

  // Output-channel blocks: the (mb·KS) × isp column panel stays under ~1M
  // elements, and a (batch, group) pair splits into several tasks.
  const int64_t panel_cap = std::max<int64_t>(1, (int64_t{1} << 20) / std::max<int64_t>(KS * isp, 1));
  const int64_t mb = std::max<int64_t>(1, std::min({Mg, panel_cap, (Mg + 7) / 8}));
  const int64_t mblocks = Mg == 0 ? 0 : (Mg + mb - 1) / mb;
  const int64_t tasks = s.batch * G * mblocks;

  runtime::parallel_for(tasks, 1, [&](int64_t t0, int64_t t1) {
    std::vector<T> col(static_cast<size_t>(mb * KS * isp));
    std::vector<double> acc(static_cast<size_t>(osp));
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t n = t / (G * mblocks), g = (t / mblocks) % G, m0 = (t % mblocks) * mb;
      const int64_t m1 = std::min(Mg, m0 + mb);
      const T* xg = x + (n * s.in_channels + g * Cg) * isp;
      const T* wg = w + g * Cg * Mg * KS;  // Cg × (Mg·KS), row-major
      // col[(m − m0)·KS + kk, i] = Σ_c W[g·Cg + c, m, kk] · X[n, g·Cg + c, i]
      gemm_at((m1 - m0) * KS, isp, Cg, wg + m0 * KS, Mg * KS, xg, isp, col.data());
      for (int64_t m = m0; m < m1; ++m) {
        std::fill(acc.begin(), acc.end(), bias ? static_cast<double>(bias[g * Mg + m]) : 0.0);
        // col2im: scatter-add each (tap, input position) value to where it lands.
        for (int64_t kk = 0; kk < KS; ++kk) {
          const T* crow = col.data() + ((m - m0) * KS + kk) * isp;
          for (int64_t i = 0; i < isp; ++i) {
            int64_t off = 0;
            for (size_t d = 0; d < r; ++d) {
              int64_t pos = origin[d * isp + i] + tap[d * KS + kk];
              if (pos < 0 || pos >= s.out_spatial[d]) {
                off = -1;
                break;
              }
              off = off * s.out_spatial[d] + pos;
            }
            if (off >= 0) acc[off] += static_cast<double>(crow[i]);
          }
        }
        T* ym = y + (n * s.out_channels + g * Mg + m) * osp;
        for (int64_t o = 0; o < osp; ++o) ym[o] = static_cast<T>(acc[o]);
      }
    }
  });
}

}  // namespace

void conv_transpose_f32(const ConvShape& s, const float* x, const float* w, const float* bias, float* y) {
  conv_transpose(s, x, w, bias, y);
}

void conv_transpose_f64(const ConvShape& s, const double* x, const double* w, const double* bias, double* y) {
  conv_transpose(s, x, w, bias, y);
}

}  // namespace kiln::kernels::ref
