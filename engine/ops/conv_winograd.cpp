#include "ops/conv_winograd.h"

#include <algorithm>
#include <cstring>

#include "kernels/reference/winograd.h"
#include "kernels/simd/winograd.h"
#include "ops/fused.h"
#include "runtime/parallel.h"

namespace kiln::ops {

namespace {

constexpr int64_t kXi = simd::kWinogradElements;

// V (36 × C × tiles) and the GEMM products (36 × M × tiles) of one chunk of
// tiles stay below this many floats together (64 MiB); larger problems run
// chunk by chunk, each chunk re-reading U.
constexpr int64_t kChunkFloats = int64_t{1} << 24;

// Scratch kept per thread and grown once (a run allocates nothing after its
// first): zeroed when grown, so that the lanes the kernels read past the
// last tile (and ignore) are never uninitialized memory.
float* scratch(simd::AlignedFloats& buf, int64_t floats) {
  if (static_cast<int64_t>(buf.size()) < floats) {
    buf = simd::AlignedFloats(static_cast<size_t>(floats));
    std::memset(buf.data(), 0, buf.size() * sizeof(float));
  }
  return buf.data();
}

}  // namespace

bool winograd_geometry(const kernels::ref::ConvShape& s) {
  return s.kernel.size() == 2 && s.group == 1 && s.kernel[0] == 3 && s.kernel[1] == 3 && s.strides[0] == 1 &&
         s.strides[1] == 1 && s.dilations[0] == 1 && s.dilations[1] == 1 && s.in_channels > 0 && s.out_channels > 0;
}

// The rule, from bench/kernel_bench (winograd/… against conv/…, one Zen 5
// core, batch 1, 2026-11-26; bench/RESULTS.md), with T = ⌈OH/4⌉·⌈OW/4⌉ tiles
// per image. Winograd cuts the multiply-adds 4× but adds
// transforms costing ∝ (C + M)·T and GEMMs only T wide, so it pays on large
// maps whatever the channels, and on mid-size maps only with many channels:
//   wins:  T = 196 (56²): 16→16 1.17×, 64→64 1.44×, 128→32 1.32×;
//          T = 49 (28²): 128→128 1.35×;  T = 16 (14²): 256→256 1.3×
//   loses: T = 49: 32→32 0.75×;  T = 16: 128→32 0.74×;  T = 4 (7²): 512→512 0.55×
// (the last: 36 GEMMs 4 columns wide, each streaming 1 MiB of U).
bool winograd_preferred(int64_t C, int64_t M, int64_t OH, int64_t OW) {
  if (C < 16 || M < 16) return false;
  if (OH < 0 || OW < 0) return true;  // decided at run time
  const int64_t T = ((OH + 3) / 4) * ((OW + 3) / 4);
  return T >= 196 || (T >= 16 && std::min(C, M) >= 128);
}

std::shared_ptr<const WinogradWeights> winograd_weights(const float* w, int64_t M, int64_t C) {
  auto st = std::make_shared<WinogradWeights>();
  st->M = M;
  st->C = C;
  std::vector<float> u(static_cast<size_t>(kXi * M * C));
  kernels::ref::winograd_f4x3_filter(w, M, C, u.data());
  st->u.reserve(kXi);
  for (int64_t xi = 0; xi < kXi; ++xi) st->u.push_back(simd::pack_gemm_a(u.data() + xi * M * C, C, false, M, C));
  return st;
}

void winograd_conv_f32(const WinogradWeights& u, const kernels::ref::ConvShape& s, const float* x, const float* bias,
                       const float* z, const simd::ActParams& act, float* y) {
  const int64_t C = s.in_channels, M = s.out_channels, H = s.in_spatial[0], W = s.in_spatial[1];
  const int64_t OH = s.out_spatial[0], OW = s.out_spatial[1];
  const simd::WinogradPlane plane = simd::winograd_plane(H, W, OH, OW, s.pads_begin[0], s.pads_begin[1]);
  const int64_t T = plane.TH * plane.TW, NT = s.batch * T;
  // Chunks of tiles (flattened over images) of equal size.
  const int64_t cap = std::max<int64_t>(64, kChunkFloats / (kXi * (C + M)));
  const int64_t chunks = (NT + cap - 1) / cap, NB = (NT + chunks - 1) / chunks;
  const int64_t ld = (NB + simd::kWinogradSlack + 15) / 16 * 16;  // row stride of V_ξ and M_ξ
  thread_local simd::AlignedFloats v_buf, m_buf;
  float* v = scratch(v_buf, kXi * C * ld);
  float* m = scratch(m_buf, kXi * M * ld);
  const int64_t phase_floats = simd::winograd_phase_floats(plane);
  auto input = simd::dispatch(simd::winograd_f4x3_input{});
  auto output = simd::dispatch(simd::winograd_f4x3_output{});

  // Calls f(n, t0, t1, col) for the tiles [t0, t1) of image n inside the chunk
  // starting at flattened tile c0 (col: their first column in V_ξ / M_ξ).
  auto for_images = [&](int64_t c0, int64_t c1, auto&& f) {
    for (int64_t n = c0 / T; n * T < c1; ++n) {
      const int64_t a = std::max(c0, n * T), e = std::min(c1, (n + 1) * T);
      f(n, a - n * T, e - n * T, a - c0);
    }
  };
  for (int64_t c0 = 0; c0 < NT; c0 += NB) {
    const int64_t c1 = std::min(NT, c0 + NB);
    // V_ξ[c, t] for every channel: one task per input channel.
    runtime::parallel_for(C, 1, [&](int64_t k0, int64_t k1) {
      thread_local simd::AlignedFloats phase_buf;
      float* phase = scratch(phase_buf, phase_floats);
      for (int64_t c = k0; c < k1; ++c)
        for_images(c0, c1, [&](int64_t n, int64_t t0, int64_t t1, int64_t col) {
          input(plane, x + (n * C + c) * H * W, t0, t1, v + c * ld + col, C * ld, phase);
        });
    });
    // M_ξ = U_ξ · V_ξ: one single-threaded GEMM per task (its result does not
    // depend on which thread runs it).
    runtime::parallel_for(kXi, 1, [&](int64_t x0, int64_t x1) {
      for (int64_t xi = x0; xi < x1; ++xi) {
        simd::SgemmProblem p;
        p.M = M;
        p.N = c1 - c0;
        p.K = C;
        p.packed_a = u.u[static_cast<size_t>(xi)].data();
        p.b = v + xi * C * ld;
        p.ldb = ld;
        p.c = m + xi * M * ld;
        p.ldc = ld;
        simd::sgemm(p, /*threaded=*/false);
      }
    });
    // Back to Y with the epilogue: one task per output channel.
    runtime::parallel_for(M, 1, [&](int64_t o0, int64_t o1) {
      for (int64_t o = o0; o < o1; ++o)
        for_images(c0, c1, [&](int64_t n, int64_t t0, int64_t t1, int64_t col) {
          const int64_t off = (n * M + o) * OH * OW;
          output(plane, m + o * ld + col, M * ld, t0, t1, bias ? bias[o] : 0.f, z ? z + off : nullptr, act, y + off);
        });
    });
  }
}

bool run_winograd_f32(ComputeContext& ctx, const WinogradWeights* u, const kernels::ref::ConvShape& s,
                      const Tensor& x, const Tensor* b, Tensor& y) {
  if (!u || !winograd_geometry(s) || u->M != s.out_channels || u->C != s.in_channels) return false;
  if (!winograd_preferred(s.in_channels, s.out_channels, s.out_spatial[0], s.out_spatial[1])) return false;
  // The epilogue of a kiln.FusedConv node (none on a plain Conv). A residual
  // of another shape is left to the fused wrapper, which broadcasts it.
  const FusedEpilogue e = FusedEpilogue::of(ctx.node());
  const Tensor* z = e.residual_input ? ctx.residual() : nullptr;
  if (z && (z->dtype() != DType::Float32 || z->shape() != y.shape())) return false;
  const bool fused = e.kind != FusedEpilogue::None || z;
  winograd_conv_f32(*u, s, x.data_as<float>(), b ? b->data_as<float>() : nullptr, z ? z->data_as<float>() : nullptr,
                    e.simd_act(), y.data_as<float>());
  if (fused) ctx.mark_epilogue_applied();
  ctx.set_kernel(simd::gemm_kernel_name("winograd_f4x3"));
  return true;
}

}  // namespace kiln::ops
