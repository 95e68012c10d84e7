// Single-precision GEMM on packed panels, one body templated on the xsimd arch:
//
//   C[m, n] = act( alpha · Σ_k A'[m, k] · B'[k, n]  (+ C[m, n] if accumulate)
//                  + row_bias[m] + col_bias[n] + residual[m, n] )
//
// A' = A or Aᵀ (M×K) or im2col(X)ᵀ, B' = B or Bᵀ (K×N) or im2col(X), an
// im2col operand being packed block by block straight from X (never
// materialised). With trans_c, C (and the residual) are stored transposed.
//
// A convolution Y[Cout, P] = W · im2col(X) (P output positions) runs either
// as written (W the row operand, positions along the vector lanes) or, for
// small maps, transposed: Yᵀ = im2col(X)ᵀ · Wᵀ with trans_c, so the output
// channels (a multiple of the vector width in CNNs) fill the lanes and the
// positions take the broadcast side, where a ragged count (7² = 49 = 3·16+1)
// costs only a short row tile instead of a mostly empty vector column.
//
// Layout of packed operands (what sgemm_pack_a/b write and sgemm_compute
// reads; `kc`, `mr`, `nr` come from sgemm_blocking for the same arch):
//   K is cut into blocks of kc (the last one shorter, kb = its length).
//   Packed A: for each K block, ⌈M/mr⌉ micro-panels, each kb × mr (k-major,
//   rows past M zero); the block starts at p·kc·Mp with Mp = ⌈M/mr⌉·mr.
//   Packed B: likewise ⌈N/nr⌉ micro-panels of kb × nr; block p at p·kc·Np.
//
// Summation order: each output element sums its K block by block in order,
// each block sequentially in k, adding the block's partial sum to the value
// held in C (with trans_c: in a scratch tile, C being written once after the
// last block). That order depends only on K and kc, never on which rectangle
// of C a call computes nor on the tile shape that covers it, so a threaded
// driver that splits C into rectangles gives results independent of the split.
#pragma once

#include <cstdint>

#include "kernels/simd/activation.h"
#include "kernels/simd/arch.h"

namespace kiln::simd {

enum class GemmActivation { None, Relu, Clip, LeakyRelu, Sigmoid, HardSigmoid, HardSwish, Tanh, SiLU };

// The activation.h kind of each (the same definitions, NaN handling included).
inline Act act_of(GemmActivation a) noexcept {
  switch (a) {
    case GemmActivation::None: return Act::None;
    case GemmActivation::Relu: return Act::Relu;
    case GemmActivation::Clip: return Act::Clip;
    case GemmActivation::LeakyRelu: return Act::LeakyRelu;
    case GemmActivation::Sigmoid: return Act::Sigmoid;
    case GemmActivation::HardSigmoid: return Act::HardSigmoid;
    case GemmActivation::HardSwish: return Act::HardSwish;
    case GemmActivation::Tanh: return Act::Tanh;
    case GemmActivation::SiLU: return Act::SiLU;
  }
  return Act::None;
}

// Applied to each output element when its tile leaves the registers, after
// the last K block: v = alpha·acc (+ C) + row_bias[m] + col_bias[n] + residual[m, n]
// on the registers, then the activation over the just-stored tile (in L1) (Clip: [act_alpha, act_beta]; LeakyRelu: slope
// act_alpha; HardSigmoid: max(0, min(1, act_alpha·v + act_beta))).
struct GemmEpilogue {
  float alpha = 1.f;
  bool accumulate = false;          // add into C's existing contents
  const float* row_bias = nullptr;  // [M] (a conv's per-output-channel bias)
  const float* col_bias = nullptr;  // [N] (a Gemm's C row)
  const float* residual = nullptr;  // [M, N] with row stride ld_residual
  int64_t ld_residual = 0;
  GemmActivation act = GemmActivation::None;
  float act_alpha = 0.f, act_beta = 0.f;
};

// B' as the im2col matrix of one image and one group of a 2-D convolution
// (NCHW; a 1-D convolution is the case H = OH = kh = 1):
//   B'[(c·kh + r)·kw + s, oh·OW + ow] = X[c, oh·sh − ph + r·dh, ow·sw − pw + s·dw]
// (0 outside X), so K = channels·kh·kw and N = OH·OW.
struct Im2col2d {
  const float* x = nullptr;  // the group's first input channel
  int64_t channels = 0, H = 0, W = 0, OH = 0, OW = 0;
  int64_t kh = 1, kw = 1, sh = 1, sw = 1, dh = 1, dw = 1, ph = 0, pw = 0;
};

struct SgemmProblem {
  int64_t M = 0, N = 0, K = 0;
  // A: packed_a when not null, else a_im2col when not null (A' = im2col(X)ᵀ:
  // M = OH·OW output positions, K taps; read in place from X, no packing,
  // when it has no padding), else a (row stride lda, trans_a).
  const float* a = nullptr;
  int64_t lda = 0;
  bool trans_a = false;
  const float* packed_a = nullptr;
  const Im2col2d* a_im2col = nullptr;
  // B: packed_b, else im2col when not null, else b (row stride ldb, trans_b).
  const float* b = nullptr;
  int64_t ldb = 0;
  bool trans_b = false;
  const float* packed_b = nullptr;
  const Im2col2d* im2col = nullptr;
  // A per-row map of a plain row-major B (b, not trans_b; not packed_b or
  // im2col), applied as B is packed: B[k, n] is read as
  // act(fma(B[k, n], b_scale[k], b_shift[k])) with act None or Relu (a
  // BatchNormalization(+Relu) in front of a 1×1 convolution).
  const float* b_scale = nullptr;
  const float* b_shift = nullptr;
  bool b_relu = false;
  float* c = nullptr;
  int64_t ldc = 0;
  // C stored transposed: element (m, n) at c[n·ldc + m], and the residual
  // likewise at residual[n·ld_residual + m] (a convolution's NCHW output
  // computed as Yᵀ). The biases keep their meaning (row_bias[m], col_bias[n]).
  bool trans_c = false;
  GemmEpilogue ep;
};

// Register and cache blocking of one arch: an mr × nr tile of C in
// registers; kc-deep K blocks; A packed mc rows and B packed nc columns at a
// time. workspace_floats: the scratch sgemm_compute needs (mc·kc + kc·nc,
// mc·nc for trans_c's running sums, plus alignment slack). width: floats per
// vector (nr is a multiple).
struct GemmBlocking {
  int64_t mr, nr, kc, mc, nc;
  int64_t workspace_floats;
  int64_t width;
};

struct sgemm_blocking {
  template <class Arch>
  GemmBlocking operator()(Arch) const noexcept;
};

// Packs all of A' (M×K) into `packed` (⌈K/kc⌉ blocks, see above);
// packed_a_floats(M, K) = Mp·K floats (at least mr·1 when K is 0).
struct sgemm_pack_a {
  template <class Arch>
  void operator()(Arch, const float* a, int64_t lda, bool trans, int64_t M, int64_t K, float* packed) const noexcept;
};
// Packs all of B' (K×N): Np·K floats.
struct sgemm_pack_b {
  template <class Arch>
  void operator()(Arch, const float* b, int64_t ldb, bool trans, int64_t K, int64_t N, float* packed) const noexcept;
};

// Packs K blocks [kb0, kb1) of p's A' (every row; from a or a_im2col) where
// a prepacked A' of the same problem holds them (packed_a_floats(M, K) floats
// in all), so that threads can pack one shared A' block by block.
struct sgemm_pack_a_blocks {
  template <class Arch>
  void operator()(Arch, const SgemmProblem& p, int64_t kb0, int64_t kb1, float* packed) const noexcept;
};

// Computes C[m0:m1, n0:n1] of problem p on the calling thread. m0 must be a
// multiple of mr when A is prepacked and n0 a multiple of the vector width
// when B is (prepacked operands are addressed by panel; a range may start
// inside a B panel at a vector boundary); workspace holds workspace_floats
// floats.
struct sgemm_compute {
  template <class Arch>
  void operator()(Arch, const SgemmProblem& p, int64_t m0, int64_t m1, int64_t n0, int64_t n1,
                  float* workspace) const noexcept;
};

#define KILN_SIMD_GEMM_EXTERN(Arch)                                                                                   \
  extern template GemmBlocking sgemm_blocking::operator()<Arch>(Arch) const noexcept;                                 \
  extern template void sgemm_pack_a::operator()<Arch>(Arch, const float*, int64_t, bool, int64_t, int64_t, float*)    \
      const noexcept;                                                                                                 \
  extern template void sgemm_pack_b::operator()<Arch>(Arch, const float*, int64_t, bool, int64_t, int64_t, float*)    \
      const noexcept;                                                                                                 \
  extern template void sgemm_pack_a_blocks::operator()<Arch>(Arch, const SgemmProblem&, int64_t, int64_t, float*)    \
      const noexcept;                                                                                                 \
  extern template void sgemm_compute::operator()<Arch>(Arch, const SgemmProblem&, int64_t, int64_t, int64_t, int64_t, \
                                                       float*) const noexcept;
KILN_SIMD_FOR_EACH_ARCH(KILN_SIMD_GEMM_EXTERN)
#undef KILN_SIMD_GEMM_EXTERN

}  // namespace kiln::simd
