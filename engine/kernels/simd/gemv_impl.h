// Body of sgemv_compute (gemv.h); included only by kernels/simd/instantiate.h.
#pragma once

#include <algorithm>
#include <cassert>
#include <cstdint>
#include <numeric>

#include "kernels/simd/activation_impl.h"
#include "kernels/simd/gemv.h"

namespace kiln::simd {
namespace gemv_detail {

// y[i0 + i] = act(alpha·raw[i] (+ y) + row bias + column bias + residual) for
// i < count, in the SGEMM's order of additions. Output index o is n (M = 1:
// the row bias is row_bias[0]) or m (N = 1: the column bias is col_bias[0]).
template <class Arch>
void finish(const GemvProblem& p, const float* raw, int64_t i0, int64_t count) noexcept {
  using B = xsimd::batch<float, Arch>;
  constexpr int64_t W = static_cast<int64_t>(B::size);
  const GemmEpilogue& ep = p.ep;
  const bool rows = p.along_m;
  const float* vec_bias = rows ? ep.row_bias : ep.col_bias;
  const float* one_bias = rows ? ep.col_bias : ep.row_bias;
  const B alpha(ep.alpha), scalar_bias(one_bias ? one_bias[0] : 0.f);
  detail::with_act(act_of(ep.act), [&](auto k) {
    constexpr Act K = decltype(k)::value;
    auto one = [&](B r, const float* c, const float* vb, const float* z) {
      B v = alpha * r;
      if (ep.accumulate) v += B::load_unaligned(c);
      if (rows) {
        if (vb) v += B::load_unaligned(vb);
        if (one_bias) v += scalar_bias;
      } else {
        if (one_bias) v += scalar_bias;
        if (vb) v += B::load_unaligned(vb);
      }
      if (z) v += B::load_unaligned(z);
      return detail::act_vec<K>(v, ep.act_alpha, ep.act_beta);
    };
    float* y = p.y + i0;
    const float* vb = vec_bias ? vec_bias + i0 : nullptr;
    const float* z = ep.residual ? ep.residual + i0 : nullptr;
    int64_t i = 0;
    for (; i + W <= count; i += W)
      one(B::load_unaligned(raw + i), y + i, vb ? vb + i : nullptr, z ? z + i : nullptr).store_unaligned(y + i);
    if (i < count) {  // tail through padded buffers: every lane sees a finite value
      alignas(64) float br[W] = {}, bc[W] = {}, bb[W] = {}, bz[W] = {};
      for (int64_t j = 0; j < count - i; ++j) {
        br[j] = raw[i + j];
        if (ep.accumulate) bc[j] = y[i + j];
        if (vb) bb[j] = vb[i + j];
        if (z) bz[j] = z[i + j];
      }
      one(B::load_aligned(br), bc, vb ? bb : nullptr, z ? bz : nullptr).store_aligned(br);
      for (int64_t j = 0; j < count - i; ++j) y[i + j] = br[j];
    }
  });
}

// M = 1: outputs [n0, n1) from packed B' panels of nr columns.
template <class Arch>
void gemv_packed_b(const GemvProblem& p, int64_t n0, int64_t n1) noexcept {
  using B = xsimd::batch<float, Arch>;
  constexpr int64_t W = static_cast<int64_t>(B::size);
  constexpr int64_t kMaxNv = 4;
  const int64_t nr = p.bl.nr, kc = p.bl.kc, nv = nr / W;
  assert(nr % W == 0 && nv <= kMaxNv && n0 % nr == 0);
  const int64_t Np = (p.N + nr - 1) / nr * nr;
  alignas(64) float raw[kMaxNv * W];
  for (int64_t j0 = n0; j0 < n1; j0 += nr) {
    B even[kMaxNv], odd[kMaxNv];
    for (int64_t v = 0; v < nv; ++v) even[v] = odd[v] = B(0.f);
    for (int64_t k0 = 0; k0 < p.K; k0 += kc) {
      const int64_t kb = std::min(kc, p.K - k0);
      const float* panel = p.packed + k0 * Np + j0 * kb;  // panel j0/nr of the block: kb × nr
      const float* x = p.x + k0;
      int64_t k = 0;
      for (; k + 2 <= kb; k += 2) {
        const B x0(x[k]), x1(x[k + 1]);
        const float* r0 = panel + k * nr;
        for (int64_t v = 0; v < nv; ++v) {
          even[v] = xsimd::fma(x0, B::load_aligned(r0 + v * W), even[v]);
          odd[v] = xsimd::fma(x1, B::load_aligned(r0 + nr + v * W), odd[v]);
        }
      }
      if (k < kb) {
        const B x0(x[k]);
        for (int64_t v = 0; v < nv; ++v) even[v] = xsimd::fma(x0, B::load_aligned(panel + k * nr + v * W), even[v]);
      }
    }
    for (int64_t v = 0; v < nv; ++v) (even[v] + odd[v]).store_aligned(raw + v * W);
    finish<Arch>(p, raw, j0, std::min(nr, n1 - j0));
  }
}

// N = 1: outputs [m0, m1) from packed A' panels of mr rows, in chunks whose
// row sums stay in L1 while x is expanded once per K block.
template <class Arch>
void gemv_packed_a(const GemvProblem& p, int64_t m0, int64_t m1, float* workspace) noexcept {
  using B = xsimd::batch<float, Arch>;
  constexpr int64_t W = static_cast<int64_t>(B::size);
  constexpr int64_t kChunk = 256;  // rows per chunk
  const int64_t mr = p.bl.mr, kc = p.bl.kc;
  assert(m0 % mr == 0 && mr <= kChunk);
  const int64_t Mp = (p.M + mr - 1) / mr * mr;
  // Accumulators per flat step: a multiple of lcm(mr, W)/W, at least 4 (the
  // FMA latency), so that lane q of the step always holds row q mod mr.
  const int64_t per = std::lcm(mr, W) / W;
  const int64_t acc_n = per * ((4 + per - 1) / per);
  const int64_t step = acc_n * W;
  constexpr int64_t kMaxAcc = 8;
  assert(acc_n <= kMaxAcc);
  float* xe = reinterpret_cast<float*>((reinterpret_cast<uintptr_t>(workspace) + 63) & ~uintptr_t{63});
  alignas(64) float sums[kChunk + 64];
  alignas(64) float fold[kMaxAcc * W];
  for (int64_t c0 = m0; c0 < m1; c0 += kChunk / mr * mr) {
    const int64_t c1 = std::min(m1, c0 + kChunk / mr * mr);
    const int64_t rows = (c1 - c0 + mr - 1) / mr * mr;  // whole panels (zero rows past M)
    std::fill(sums, sums + rows, 0.f);
    for (int64_t k0 = 0; k0 < p.K; k0 += kc) {
      const int64_t kb = std::min(kc, p.K - k0), len = kb * mr;
      for (int64_t k = 0; k < kb; ++k) std::fill(xe + k * mr, xe + (k + 1) * mr, p.x[k0 + k]);
      for (int64_t i = c0; i < c0 + rows; i += mr) {
        const float* panel = p.packed + k0 * Mp + i * kb;  // kb × mr, k-major
        B acc[kMaxAcc];
        for (int64_t a = 0; a < acc_n; ++a) acc[a] = B(0.f);
        int64_t j = 0;
        for (; j + step <= len; j += step)
          for (int64_t a = 0; a < acc_n; ++a)
            acc[a] = xsimd::fma(B::load_unaligned(panel + j + a * W), B::load_aligned(xe + j + a * W), acc[a]);
        // Accumulators a and a + per map lanes to the same rows: add them,
        // leaving per vectors = L floats whose float q is row q mod mr.
        for (int64_t a = per; a < acc_n; ++a) acc[a % per] += acc[a];
        for (int64_t a = 0; a < per; ++a) acc[a].store_aligned(fold + a * W);
        const int64_t L = per * W;
        for (int64_t q0 = j; q0 < len; q0 += L)  // the rest of the run (shorter than a step)
          for (int64_t t = 0; t < L && q0 + t < len; ++t) fold[t] += panel[q0 + t] * xe[q0 + t];
        float* s = sums + (i - c0);
        for (int64_t q0 = 0; q0 < L; q0 += mr)  // L is a multiple of mr: float q0 + r is row r
          for (int64_t r = 0; r < mr; ++r) s[r] += fold[q0 + r];
      }
    }
    finish<Arch>(p, sums, c0, c1 - c0);
  }
}

}  // namespace gemv_detail

template <class Arch>
void sgemv_compute::operator()(Arch, const GemvProblem& p, int64_t i0, int64_t i1, float* workspace) const noexcept {
  if (i0 >= i1) return;
  if (p.along_m) gemv_detail::gemv_packed_a<Arch>(p, i0, i1, workspace);
  else gemv_detail::gemv_packed_b<Arch>(p, i0, i1);
}

}  // namespace kiln::simd

#define KILN_SIMD_GEMV_INSTANTIATE(Arch)                                                                           \
  template void kiln::simd::sgemv_compute::operator()<Arch>(Arch, const kiln::simd::GemvProblem&, int64_t, int64_t, \
                                                            float*) const noexcept;
