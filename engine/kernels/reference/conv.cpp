#include "kernels/reference/conv.h"

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

void gemm(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* B, int64_t ldb, float beta,
          float* C, int64_t ldc) {
  gemm_f32(false, false, M, N, K, 1.f, A, lda, B, ldb, beta, C, ldc);
}
void gemm(int64_t M, int64_t N, int64_t K, const double* A, int64_t lda, const double* B, int64_t ldb, double beta,
          double* C, int64_t ldc) {
  gemm_f64(false, false, M, N, K, 1.0, A, lda, B, ldb, beta, C, ldc);
}

// im2col over the output columns [j0, j1) of one (batch, group) slice:
//   col[(c·KS + kk)·nj + (j − j0)] = X[c, o(j)·s + k(kk)·d − p]   (0 outside X)
// where o(j) and k(kk) are the row-major multi-indices of output column j and
// kernel tap kk. The input offset of each (tap, column) pair is found once and
// reused for every channel.
template <class T>
void im2col(const ConvShape& s, const T* x, int64_t channels, int64_t j0, int64_t j1, T* col) {
  const size_t r = s.kernel.size();
  const int64_t nj = j1 - j0, KS = product(s.kernel), isp = product(s.in_spatial);

  // origin[d·nj + jj] = o_d·s_d − p_d: where tap 0 of column j0 + jj lands on axis d.
  std::vector<int64_t> origin(r * static_cast<size_t>(nj));
  std::vector<int64_t> o(r);
  int64_t rem = j0;
  for (size_t d = r; d-- > 0;) {
    o[d] = rem % s.out_spatial[d];
    rem /= s.out_spatial[d];
  }
  for (int64_t jj = 0; jj < nj; ++jj) {
    for (size_t d = 0; d < r; ++d) origin[d * nj + jj] = o[d] * s.strides[d] - s.pads_begin[d];
    for (size_t d = r; d-- > 0;) {  // odometer step to the next output column
      if (++o[d] < s.out_spatial[d]) break;
      o[d] = 0;
    }
  }

  std::vector<int64_t> offset(static_cast<size_t>(nj));  // input offset per column, −1 in the padding
  std::vector<int64_t> k(r, 0);
  for (int64_t kk = 0; kk < KS; ++kk) {
    for (int64_t jj = 0; jj < nj; ++jj) {
      int64_t off = 0;
      for (size_t d = 0; d < r; ++d) {
        int64_t pos = origin[d * nj + jj] + k[d] * s.dilations[d];
        if (pos < 0 || pos >= s.in_spatial[d]) {
          off = -1;
          break;
        }
        off = off * s.in_spatial[d] + pos;
      }
      offset[jj] = off;
    }
    for (int64_t c = 0; c < channels; ++c) {
      const T* xc = x + c * isp;
      T* row = col + (c * KS + kk) * nj;
      for (int64_t jj = 0; jj < nj; ++jj) row[jj] = offset[jj] < 0 ? T(0) : xc[offset[jj]];
    }
    for (size_t d = r; d-- > 0;) {  // next kernel tap
      if (++k[d] < s.kernel[d]) break;
      k[d] = 0;
    }
  }
}

template <class T>
void conv(const ConvShape& s, const T* x, const T* w, const T* bias, T* y) {
  const int64_t G = s.group, Cg = s.in_channels / G, Mg = s.out_channels / G;
  const int64_t KS = product(s.kernel), K = Cg * KS;
  const int64_t isp = product(s.in_spatial), osp = product(s.out_spatial);
  if (osp <= 0) return;

  // A 1×1 kernel with unit stride and no padding reads X as it lies: the
  // GEMM's B is the input slice itself, no im2col needed.
  bool pointwise = s.in_spatial == s.out_spatial;
  for (size_t d = 0; d < s.kernel.size(); ++d)
    pointwise = pointwise && s.kernel[d] == 1 && s.strides[d] == 1 && s.pads_begin[d] == 0;

  // Column blocks keep the K × nb im2col panel around 128 KiB (it is re-read
  // for every output channel) and give parallel work even at batch 1.
  const int64_t nb = std::min(osp, std::clamp<int64_t>(32768 / std::max<int64_t>(K, 1), 64, 1024));
  const int64_t blocks = (osp + nb - 1) / nb;
  // Small late layers (7×7 maps at batch 1) have too few column blocks to
  // share out; split their output channels too, into blocks of at least 16
  // rows, so the repeated im2col stays a small fraction of the GEMM.
  const int64_t column_tasks = s.batch * G * blocks;
  const int64_t msplit =
      column_tasks >= 8 ? 1 : std::max<int64_t>(1, std::min((8 + column_tasks - 1) / column_tasks, Mg / 16));
  const int64_t mb = std::max<int64_t>(1, (Mg + msplit - 1) / msplit);
  const int64_t mblocks = Mg == 0 ? 1 : (Mg + mb - 1) / mb;
  const int64_t tasks = column_tasks * mblocks;

  runtime::parallel_for(tasks, 1, [&](int64_t t0, int64_t t1) {
    std::vector<T> col(pointwise ? 0 : static_cast<size_t>(K * nb));
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t ct = t / mblocks, n = ct / (G * blocks), g = (ct / blocks) % G, jb = ct % blocks;
      const int64_t j0 = jb * nb, j1 = std::min(osp, j0 + nb), nj = j1 - j0;
      const int64_t m0 = (t % mblocks) * mb, m1 = std::min(Mg, m0 + mb);
      const T* xg = x + (n * s.in_channels + g * Cg) * isp;
      const T* wg = w + (g * Mg + m0) * K;
      T* yt = y + (n * s.out_channels + g * Mg + m0) * osp + j0;
      if (bias)
        for (int64_t m = m0; m < m1; ++m) std::fill_n(yt + (m - m0) * osp, nj, bias[g * Mg + m]);
      const T* B = xg + j0;
      int64_t ldb = isp;
      if (!pointwise) {
        im2col(s, xg, Cg, j0, j1, col.data());
        B = col.data();
        ldb = nj;
      }
      // Y_g[m0:m1, j0:j1] = W_g[m0:m1] (rows × K) · cols (K × nj) (+ the bias already there)
      gemm(m1 - m0, nj, K, wg, K, B, ldb, bias ? T(1) : T(0), yt, osp);
    }
  });
}

}  // namespace

void conv_f32(const ConvShape& s, const float* x, const float* w, const float* bias, float* y) {
  conv(s, x, w, bias, y);
}

void conv_f64(const ConvShape& s, const double* x, const double* w, const double* bias, double* y) {
  conv(s, x, w, bias, y);
}

}  // namespace kiln::kernels::ref
