// Body of dwconv2d_f32 (dwconv.h); included only by kernels/simd/instantiate.h.
#pragma once

#include <algorithm>
#include <cassert>
#include <cstring>
#include <type_traits>

#include "kernels/simd/activation_impl.h"
#include "kernels/simd/dwconv.h"

namespace kiln::simd {

namespace detail {

// Lane indices of the even (Odd = 0) or odd (Odd = 1) elements of a vector,
// then the others: the first half of swizzle(v) holds the wanted columns.
template <unsigned Odd>
struct half_lanes {
  static constexpr unsigned get(unsigned i, unsigned n) { return i < n / 2 ? 2 * i + Odd : 2 * (i - n / 2) + 1 - Odd; }
};

// e[j] = src[2j], o[j] = src[2j + 1] for j < n. The vector form stores whole
// vectors whose second half is scratch, overwritten by the next store; it
// writes at most 1.5 vectors past n (the layout leaves room).
template <class Arch>
void deinterleave(const float* src, float* e, float* o, int64_t n) noexcept {
  using B = xsimd::batch<float, Arch>;
  constexpr int64_t W = static_cast<int64_t>(B::size);
  if constexpr (std::is_base_of_v<xsimd::avx2, Arch> || std::is_same_v<Arch, xsimd::avx512f>) {
    using U = xsimd::batch<uint32_t, Arch>;
    constexpr auto even = xsimd::make_batch_constant<U, half_lanes<0>>();
    constexpr auto odd = xsimd::make_batch_constant<U, half_lanes<1>>();
    for (int64_t j = 0; j < n; j += W) {
      const B a = B::load_unaligned(src + 2 * j), b = B::load_unaligned(src + 2 * j + W);
      xsimd::swizzle(a, even).store_unaligned(e + j);
      xsimd::swizzle(b, even).store_unaligned(e + j + W / 2);
      xsimd::swizzle(a, odd).store_unaligned(o + j);
      xsimd::swizzle(b, odd).store_unaligned(o + j + W / 2);
    }
  } else {
    for (int64_t j = 0; j < n; ++j) {
      e[j] = src[2 * j];
      o[j] = src[2 * j + 1];
    }
  }
}

// dst[j] = x[j − pl] where 0 <= j − pl < w, else 0, for j < n.
inline void pad_row(const float* x, int64_t w, int64_t pl, float* dst, int64_t n) noexcept {
  const int64_t a = std::min(pl, n), b = std::min(pl + w, n);
  std::fill(dst, dst + a, 0.f);
  if (b > a) std::memcpy(dst + a, x + (a - pl), static_cast<size_t>(b - a) * sizeof(float));
  std::fill(dst + std::max(a, b), dst + n, 0.f);
}

// Fills the workspace rows (see DwLayout in dwconv.h).
template <class Arch, int S>
void dw_fill(const DwConvParams& p, const DwLayout& l, const float* x, float* work) noexcept {
  for (int64_t r = 0; r < l.rows; ++r) {
    float* row = work + r * l.row_floats;
    const int64_t iy = r - p.pad_top;
    if (iy < 0 || iy >= p.H) {
      std::fill(row, row + l.row_floats, 0.f);
      continue;
    }
    if constexpr (S == 1) {
      pad_row(x + iy * p.W, p.W, p.pad_left, row, l.row_floats);
    } else {
      float* src = work + l.src;
      pad_row(x + iy * p.W, p.W, p.pad_left, src, 2 * l.half);
      deinterleave<Arch>(src, row, row + l.half, l.half - 2 * kMaxLanes);
    }
  }
}

// Adds the residual, applies the (cheap, in-register) activation and stores `cnt` outputs (a whole
// vector, or the row's last, partial one through a buffer).
template <Act A, class B>
inline void dw_store(B acc, const float* z, float* y, int64_t cnt, const ActParams& act) noexcept {
  constexpr int64_t W = static_cast<int64_t>(B::size);
  if (cnt == W) {
    if (z) acc += B::load_unaligned(z);
    act_vec<A>(acc, act.alpha, act.beta).store_unaligned(y);
    return;
  }
  alignas(64) float buf[W] = {};
  if (z) {
    for (int64_t i = 0; i < cnt; ++i) buf[i] = z[i];
    acc += B::load_aligned(buf);
  }
  act_vec<A>(acc, act.alpha, act.beta).store_aligned(buf);
  for (int64_t i = 0; i < cnt; ++i) y[i] = buf[i];
}

template <class Arch, int K, int S, Act A>
void dw_plane(const DwConvParams& p, const float* x, const float* w, float bias, const float* z, float* y,
              float* work) noexcept {
  using B = xsimd::batch<float, Arch>;
  constexpr int64_t W = static_cast<int64_t>(B::size);
  constexpr int T = K * K;
  constexpr int64_t U = 4;  // output vectors per block: independent accumulators
  const DwLayout l = dw_layout(p);
  dw_fill<Arch, S>(p, l, x, work);

  B wv[T];
  for (int t = 0; t < T; ++t) wv[t] = B(w[t]);
  // Offset of tap (ky, kx) from the start of the output row's first input
  // row: stride 1 reads column ox + kx; stride 2 reads column 2·ox + kx, i.e.
  // entry ox + kx/2 of the even or odd half.
  int64_t tap[T];
  for (int ky = 0; ky < K; ++ky)
    for (int kx = 0; kx < K; ++kx)
      tap[ky * K + kx] = ky * l.row_floats + (S == 1 ? kx : (kx % 2) * l.half + kx / 2);

  const int64_t nvec = (p.OW + W - 1) / W;
  const bool act_per_plane = p.OH * p.OW <= 4096;  // 16 KiB: stays in L1
  for (int64_t oy = 0; oy < p.OH; ++oy) {
    const float* in = work + oy * S * l.row_floats;
    float* yr = y + oy * p.OW;
    const float* zr = z ? z + oy * p.OW : nullptr;
    int64_t v = 0;
    for (; v + U <= nvec; v += U) {
      const int64_t ox = v * W;
      B acc[U];
      for (int64_t u = 0; u < U; ++u) acc[u] = B(bias);
      for (int t = 0; t < T; ++t)
        for (int64_t u = 0; u < U; ++u) acc[u] = xsimd::fma(B::load_unaligned(in + tap[t] + ox + u * W), wv[t], acc[u]);
      for (int64_t u = 0; u < U; ++u) {
        const int64_t o = ox + u * W;
        dw_store<A>(acc[u], zr ? zr + o : nullptr, yr + o, std::min(W, p.OW - o), p.act);
      }
    }
    for (; v < nvec; ++v) {
      const int64_t ox = v * W;
      B acc(bias);
      for (int t = 0; t < T; ++t) acc = xsimd::fma(B::load_unaligned(in + tap[t] + ox), wv[t], acc);
      dw_store<A>(acc, zr ? zr + ox : nullptr, yr + ox, std::min(W, p.OW - ox), p.act);
    }
    // Costly activations run over finished output while it is in cache, which
    // keeps one instantiation of this loop for all of them: per row on large
    // maps, once per plane on small ones (short rows would run mostly in the
    // scalar tail).
    if (A == Act::None && p.act.kind != Act::None && !act_per_plane) activation_f32{}(Arch{}, p.act, yr, yr, p.OW);
  }
  if (A == Act::None && p.act.kind != Act::None && act_per_plane) activation_f32{}(Arch{}, p.act, y, y, p.OH * p.OW);
}

template <class Arch, int K, int S>
void dw_with_act(const DwConvParams& p, const float* x, const float* w, float bias, const float* z, float* y,
                 float* work) noexcept {
  switch (p.act.kind) {
    case Act::Relu: return dw_plane<Arch, K, S, Act::Relu>(p, x, w, bias, z, y, work);
    case Act::LeakyRelu: return dw_plane<Arch, K, S, Act::LeakyRelu>(p, x, w, bias, z, y, work);
    case Act::Clip: return dw_plane<Arch, K, S, Act::Clip>(p, x, w, bias, z, y, work);
    case Act::HardSigmoid: return dw_plane<Arch, K, S, Act::HardSigmoid>(p, x, w, bias, z, y, work);
    case Act::HardSwish: return dw_plane<Arch, K, S, Act::HardSwish>(p, x, w, bias, z, y, work);
    default: return dw_plane<Arch, K, S, Act::None>(p, x, w, bias, z, y, work);  // none, or a row pass
  }
}

}  // namespace detail

template <class Arch>
void dwconv2d_f32::operator()(Arch, const DwConvParams& p, const float* x, const float* w, float bias, const float* z,
                              float* y, float* work) const noexcept {
  assert(dwconv2d_supported(p));
  if (p.kernel == 3 && p.stride == 1) detail::dw_with_act<Arch, 3, 1>(p, x, w, bias, z, y, work);
  else if (p.kernel == 3) detail::dw_with_act<Arch, 3, 2>(p, x, w, bias, z, y, work);
  else if (p.stride == 1) detail::dw_with_act<Arch, 5, 1>(p, x, w, bias, z, y, work);
  else detail::dw_with_act<Arch, 5, 2>(p, x, w, bias, z, y, work);
}

}  // namespace kiln::simd

#define KILN_SIMD_DWCONV_INSTANTIATE(Arch)                                                                \
  template void kiln::simd::dwconv2d_f32::operator()<Arch>(Arch, const kiln::simd::DwConvParams&, const float*, \
                                                           const float*, float, const float*, float*, float*) \
      const noexcept;
