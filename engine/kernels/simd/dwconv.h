// Direct depthwise 2-D convolution of one float32 channel plane (group = C =
// M, one filter per channel), square kernel K ∈ {3, 5}, stride S ∈ {1, 2},
// dilation 1, any zero padding:
//
//   y[oy, ox] = act( bias + Σ_{ky,kx<K} w[ky, kx] · x[oy·S − pt + ky, ox·S − pl + kx]  (+ z[oy, ox]) )
//
// with x read as 0 outside its H × W extent and z an optional residual plane.
//
// Vectorized over the flattened padded plane, so that one vector spans several
// output rows however narrow the map. The plane is copied once into a
// zero-bordered workspace of pitch P (stride 1: P = OW + K − 1, the padded
// plane itself; stride 2: P = OW + (K − 1)/2, its four row/column-parity
// sub-planes X_ab[r, c] = Xpad[2r + a, 2c + b]). With t = oy·P + ox,
//
//   S = 1:  u[t] = bias + Σ w[ky, kx] · Xpad[t + ky·P + kx]
//   S = 2:  u[t] = bias + Σ w[ky, kx] · X_{ky%2, kx%2}[t + (ky/2)·P + kx/2]
//
// so every tap of every vector of u is one contiguous load. Columns ox ≥ OW of
// u are meaningless and dropped when u is compacted into y (residual and
// activation applied there). Large maps are done in bands of output rows so
// that the workspace stays in L1/L2.
#pragma once

#include <cstdint>

#include "kernels/simd/activation.h"
#include "kernels/simd/arch.h"

namespace kiln::simd {

struct DwConvParams {
  int64_t H = 0, W = 0;    // input plane
  int64_t OH = 0, OW = 0;  // output plane
  int kernel = 3;          // K: 3 or 5
  int stride = 1;          // S: 1 or 2
  int64_t pad_top = 0, pad_left = 0;
  ActParams act;           // applied after bias and residual
};

// Whether the kernel covers this geometry (K, S as above, sizes positive).
bool dwconv2d_supported(const DwConvParams& p) noexcept;
// Floats of workspace one call needs (the same for every arch).
int64_t dwconv2d_workspace_floats(const DwConvParams& p) noexcept;

// One plane: x is H × W, w is K × K, z (may be null) and y are OH × OW; y
// overlaps neither x nor z. Reads and writes nothing outside these planes.
// `work` holds dwconv2d_workspace_floats(p) floats (any content; it need not
// be zeroed).
struct dwconv2d_f32 {
  template <class Arch>
  void operator()(Arch, const DwConvParams& p, const float* x, const float* w, float bias, const float* z, float* y,
                  float* work) const noexcept;
};

// The same convolution, several channels at once with one channel per vector
// lane, for small maps, where the per-plane kernel above spends most of its
// time setting each plane up. For each block of (vector width) channels the
// planes are transposed into a zero-bordered workspace of (rows × pitch)
// positions holding one vector each, every output vector is K·K aligned
// loads and FMAs (no padding logic, either stride), and the results are
// transposed back, with the residual and activation, into the channel planes.
//
// x: `channels` planes of H × W; w: channels × K × K; bias: `channels` floats
// or null; z (may be null) and y: `channels` planes of OH × OW, y overlapping
// neither x nor z. `work` holds dwconv2d_blocked_workspace_floats(p) floats
// (any content). Reads and writes nothing outside these.
int64_t dwconv2d_blocked_workspace_floats(const DwConvParams& p) noexcept;
// Whether the channel-blocked kernel is the faster choice for this geometry
// (measured; see the definition).
bool dwconv2d_prefer_blocked(const DwConvParams& p) noexcept;
struct dwconv2d_blocked_f32 {
  template <class Arch>
  void operator()(Arch, const DwConvParams& p, int64_t channels, const float* x, const float* w, const float* bias,
                  const float* z, float* y, float* work) const noexcept;
};

#define KILN_SIMD_DWCONV_EXTERN(Arch)                                                                            \
  extern template void dwconv2d_f32::operator()<Arch>(Arch, const DwConvParams&, const float*, const float*, float, \
                                                      const float*, float*, float*) const noexcept;              \
  extern template void dwconv2d_blocked_f32::operator()<Arch>(Arch, const DwConvParams&, int64_t, const float*,     \
                                                              const float*, const float*, const float*, float*,     \
                                                              float*) const noexcept;
KILN_SIMD_FOR_EACH_ARCH(KILN_SIMD_DWCONV_EXTERN)
#undef KILN_SIMD_DWCONV_EXTERN

namespace detail {
// Workspace layout shared by dwconv.cpp and the kernel body. Vectors are up
// to kMaxLanes floats; every region has slack for whole-vector stores and
// loads that run past its end (their extra lanes are never used).
inline constexpr int64_t kMaxLanes = 16;
inline constexpr int64_t kSlack = 3 * kMaxLanes;
struct DwLayout {
  int64_t pitch;   // P (see above)
  int64_t rows;    // rows of the padded plane (S = 1) or of each sub-plane (S = 2)
  int64_t plane;   // floats per (sub-)plane, slack included; sub-plane q = 2a + b at q·plane
  int64_t band;    // output rows per band
  int64_t stage;   // S = 2: offset of the one padded row staged before it is split
  int64_t out;     // offset of one band of u (band·P floats + slack)
  int64_t total;
};
DwLayout dw_layout(const DwConvParams& p) noexcept;
// The channel-blocked kernel's workspace: the padded input, `rows` × `pitch`
// positions of kMaxLanes floats (rows ≥ pt + H and ≥ (OH − 1)·S + K, likewise
// the pitch), then the output block at `out`, OH·OW positions rounded up to
// kMaxLanes, of kMaxLanes floats.
struct DwBlockedLayout {
  int64_t rows, pitch, out, total;
};
DwBlockedLayout dw_blocked_layout(const DwConvParams& p) noexcept;
}  // namespace detail

}  // namespace kiln::simd
