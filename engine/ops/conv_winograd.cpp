#include "ops/conv_winograd.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <new>

#include "kernels/simd/winograd.h"
#include "ops/fused.h"
#include "runtime/parallel.h"

namespace kiln::ops {

namespace {

constexpr int64_t kXi = simd::kWinogradElements;

// Tiles are shared out in groups of 16 (the widest vector: a group costs the
// transforms and the GEMM the same whether it holds 1 or 16 tiles).
constexpr int64_t kGroup = 16;

// A block of tiles runs input transform → 36 GEMMs → output transform before
// the next starts, so that its V (36 × C × tiles, written in the GEMM's
// packed-B layout) and M (36 × M × tiles) stay in the core's L2 (1 MiB on
// Zen 5) between the phases instead of going to memory and back; only U is
// re-read per block, and it is the operand the GEMM streams anyway.
// Measured on 64→64 at 56², 128→128 at 28² and 128→32 at 56² (one thread,
// a loaded machine): budgets of 0.75, 1.5, 3 and 12 MiB (the last: one block
// per image, V and M in L3) came within the ±10 % noise of each other, so
// the gain of this pipeline is not the L2 fit itself (it comes from V in
// the packed layout, the transforms and the strides below); blocks do keep
// the scratch small and give each thread its own run of tiles.
constexpr int64_t kBlockBytes = int64_t{3} << 19;

// Per thread: V and M of the blocks it runs (or, when the phases are shared
// out, of the calling thread's block), and the input kernel's scratch; leased
// per use (simd::ScratchLease says why).
thread_local simd::ThreadScratch t_v, t_m, t_in;

}  // namespace

bool winograd_geometry(const kernels::ref::ConvShape& s) {
  return s.kernel.size() == 2 && s.group == 1 && s.kernel[0] == 3 && s.kernel[1] == 3 && s.strides[0] == 1 &&
         s.strides[1] == 1 && s.dilations[0] == 1 && s.dilations[1] == 1 && s.in_channels > 0 && s.out_channels > 0;
}

// The rule, from bench/kernel_bench (winograd/… against conv/…, one Zen 5
// core, batch 1, 2026-11-26; bench/RESULTS.md), with T = ⌈OH/4⌉·⌈OW/4⌉ tiles
// per image. From 14² maps up (T ≥ 16) Winograd wins on every layer measured,
// 8 to 512 channels: 2.0–2.9× on ResNet's 64…256-channel layers, 2.4× on
// 8→8 and 16→16 at 56², 3.3× on DenseNet's 128→32 at 14², 2.1× on 512→512
// at 14² (VGG); against the transposed small-map GEMM (quiet machine)
// DenseNet's 128→32 at 14² is still 1.25× (56 against 71 µs). At 7² (T = 4) a
// 16-lane vector holds 4 tiles, so the transforms and GEMMs do 4× the useful
// work and each U_ξ is streamed for 4 columns: Winograd loses everywhere
// against the transposed GEMM (128→32 0.43×: 52 against 22 µs; 512→512
// 0.40×) and against the direct one (64→64 0.91×, 256→256 0.85×).
bool winograd_preferred(int64_t C, int64_t M, int64_t OH, int64_t OW) {
  if (C < 8 || M < 8) return false;
  if (OH < 0 || OW < 0) return true;  // decided at run time
  const int64_t T = ((OH + 3) / 4) * ((OW + 3) / 4);
  return T >= 16;
}

void WinogradWeights::Free::operator()(float* p) const noexcept { std::free(p); }

namespace {

// G·(a, b, c)ᵀ for one column (or row) of a 3×3 filter, G as in
// kernels/simd/winograd.h: a/4, −(a+b+c)/6, −(a−b+c)/6, a/24 ± b/12 + c/6, c.
// (Multiplications by the rounded reciprocals, as the reference's G holds
// them: divisions would cost most of the transform.)
inline void g3(double a, double b, double c, double out[6]) {
  constexpr double k4 = 1.0 / 4, k6 = 1.0 / 6, k12 = 1.0 / 12, k24 = 1.0 / 24;
  const double s = a + c, t = a * k24 + c * k6, r = b * k12;
  out[0] = a * k4;
  out[1] = -(s + b) * k6;
  out[2] = -(s - b) * k6;
  out[3] = t + r;
  out[4] = t - r;
  out[5] = c;
}

// 64-byte aligned floats (packed panels are read with aligned loads).
float* alloc_u(size_t floats) {
  const size_t bytes = (std::max<size_t>(floats, 1) * sizeof(float) + 63) / 64 * 64;
  void* p = std::aligned_alloc(64, bytes);
  if (!p) throw std::bad_alloc();
  return static_cast<float*>(p);
}

}  // namespace

// U_ξ = (G w Gᵀ)[ξ] for every (o, c), in double, written straight into the
// SGEMM's packed-A layout (gemm.h: per K block of kc, micro-panels kb × mr,
// rows past M zero) without an unpacked copy.
std::shared_ptr<const WinogradWeights> winograd_weights(const float* w, int64_t M, int64_t C) {
  auto st = std::make_shared<WinogradWeights>();
  st->M = M;
  st->C = C;
  const simd::GemmBlocking& gb = simd::gemm_blocking();
  const int64_t mr = gb.mr, kc = gb.kc, Mp = (M + mr - 1) / mr * mr;
  // One cache line more than needed between the U_ξ: each filter writes all
  // 36, and strides of a multiple of 4 KiB would send those writes to one L1
  // set (which made this loop 10× slower).
  st->stride = (Mp * std::max<int64_t>(C, 1) + 15) / 16 * 16 + 16;
  st->data.reset(alloc_u(static_cast<size_t>(kXi * st->stride)));
  float* u = st->data.get();
  for (int64_t k0 = 0; k0 < C; k0 += kc) {
    const int64_t kb = std::min(kc, C - k0);
    for (int64_t o = 0; o < Mp; ++o)
      for (int64_t c = k0; c < k0 + kb; ++c) {
        float* dst = u + k0 * Mp + (o / mr) * mr * kb + (c - k0) * mr + o % mr;
        if (o >= M) {  // padding rows of the last micro-panel
          for (int64_t xi = 0; xi < kXi; ++xi) dst[xi * st->stride] = 0.f;
          continue;
        }
        const float* g = w + (o * C + c) * 9;
        double cols[3][6];  // cols[b] = G·(column b of g)
        for (int b = 0; b < 3; ++b) g3(g[b], g[3 + b], g[6 + b], cols[b]);
        for (int i = 0; i < 6; ++i) {
          double row[6];  // row i of (G g) Gᵀ
          g3(cols[0][i], cols[1][i], cols[2][i], row);
          for (int j = 0; j < 6; ++j) dst[(6 * i + j) * st->stride] = static_cast<float>(row[j]);
        }
      }
  }
  return st;
}

void winograd_conv_f32(const WinogradWeights& u, const kernels::ref::ConvShape& s, const float* x, const float* bias,
                       const float* z, const simd::ActParams& act, float* y) {
  const int64_t C = s.in_channels, M = s.out_channels, H = s.in_spatial[0], W = s.in_spatial[1];
  const int64_t OH = s.out_spatial[0], OW = s.out_spatial[1];
  const simd::WinogradPlane plane = simd::winograd_plane(H, W, OH, OW, s.pads_begin[0], s.pads_begin[1]);
  const int64_t T = plane.TH * plane.TW, NT = s.batch * T, groups = (NT + kGroup - 1) / kGroup;
  const simd::GemmBlocking& gb = simd::gemm_blocking();
  const int64_t threads = runtime::concurrency();

  // Tiles (flattened over the batch) go in `parts` contiguous runs, one per
  // thread when there are at least two groups of 16 per thread (each thread
  // then runs whole blocks), else one run whose blocks share every phase out
  // over the threads. Part bounds fall on multiples of the GEMM's panel width
  // nr where parts are long enough, else of 16: a GEMM costs whole panels
  // (and narrow panels cost more per column), the transforms whole vectors.
  // A part is cut into blocks of `cap` tiles (a multiple of nr keeping V and
  // M within kBlockBytes), the last block taking the remainder.
  const int64_t per_tile_bytes = kXi * (C + M) * static_cast<int64_t>(sizeof(float));
  const int64_t cap = std::max<int64_t>(1, kBlockBytes / per_tile_bytes / gb.nr) * gb.nr;
  const bool whole_blocks = threads <= 1 || groups >= 2 * threads;
  const int64_t parts = whole_blocks ? threads : 1;
  const int64_t unit = NT >= 2 * gb.nr * parts ? gb.nr : kGroup;
  auto part_bound = [&](int64_t q) {
    if (q >= parts) return NT;
    return std::min(NT, (q * NT + parts * unit / 2) / (parts * unit) * unit);
  };
  auto blocks_in = [&](int64_t len) { return std::max<int64_t>(1, len / cap); };
  int64_t max_tiles = 0;
  for (int64_t q = 0; q < parts; ++q) {
    const int64_t len = part_bound(q + 1) - part_bound(q);
    max_tiles = std::max(max_tiles, len - (blocks_in(len) - 1) * cap);  // the last block is the longest
  }
  const int64_t max_np = (max_tiles + gb.nr - 1) / gb.nr * gb.nr;
  const int64_t ldm = max_np + kGroup;  // row stride of M_ξ: the output kernel reads past the last column
  // V_ξ and M_ξ one cache line more apart than they need: the transforms
  // touch all 36 at once, and strides that are multiples of 4 KiB would put
  // those 36 lines in one L1 set (12 ways).
  const int64_t v_xi = C * max_np + kGroup, m_xi = M * ldm + kGroup;
  const int64_t v_floats = kXi * v_xi, m_floats = kXi * m_xi;
  const int64_t in_floats = simd::winograd_input_scratch_floats(plane);
  auto input = simd::dispatch(simd::winograd_f4x3_input{});
  auto output = simd::dispatch(simd::winograd_f4x3_output{});

  struct Block {
    int64_t c0, c1;  // flattened tiles
    float* v;        // V_ξ at v + ξ·v_xi: packed-B panels of N = c1 − c0 columns
    float* m;        // M_ξ at m + ξ·m_xi: M rows of ldm
  };
  // Block j of the part [a, b).
  auto block_of = [&](int64_t a, int64_t b, int64_t j, float* v, float* m) {
    const int64_t nb = blocks_in(b - a);
    return Block{a + j * cap, j == nb - 1 ? b : a + (j + 1) * cap, v, m};
  };
  // Calls f(n, t0, t1, col) for the tiles [t0, t1) of image n inside the
  // block (col: their first column in V_ξ / M_ξ).
  auto for_images = [&](const Block& bl, auto&& f) {
    for (int64_t n = bl.c0 / T; n * T < bl.c1; ++n) {
      const int64_t a = std::max(bl.c0, n * T), e = std::min(bl.c1, (n + 1) * T);
      f(n, a - n * T, e - n * T, a - bl.c0);
    }
  };
  // Input channels [k0, k1) into V: row c of V_ξ is row c − kb0 of the K
  // block starting at kb0 (gemm.h).
  auto input_phase = [&](const Block& bl, int64_t k0, int64_t k1, float* in_scratch) {
    const int64_t np = (bl.c1 - bl.c0 + gb.nr - 1) / gb.nr * gb.nr;
    for (int64_t c = k0; c < k1; ++c) {
      const int64_t kb0 = c / gb.kc * gb.kc, kb = std::min(gb.kc, C - kb0);
      const simd::WinogradColumns cols{gb.nr, gb.nr * kb, v_xi};
      float* row = bl.v + kb0 * np + (c - kb0) * gb.nr;
      for_images(bl, [&](int64_t n, int64_t t0, int64_t t1, int64_t col) {
        input(plane, x + (n * C + c) * H * W, t0, t1, row, col, cols, in_scratch);
      });
    }
  };
  // M_ξ = U_ξ · V_ξ for ξ in [x0, x1), V_ξ read in place as packed B. Each
  // GEMM is single-threaded; its summation order depends only on C and kc
  // (gemm.h), not on the block, so results do not depend on the blocking.
  auto gemm_phase = [&](const Block& bl, int64_t x0, int64_t x1) {
    for (int64_t xi = x0; xi < x1; ++xi) {
      simd::SgemmProblem p;
      p.M = M;
      p.N = bl.c1 - bl.c0;
      p.K = C;
      p.packed_a = u.u(xi);
      p.packed_b = bl.v + xi * v_xi;
      p.c = bl.m + xi * m_xi;
      p.ldc = ldm;
      simd::sgemm(p, /*threaded=*/false);
    }
  };
  // Output channels [o0, o1) from M to Y with the epilogue.
  auto output_phase = [&](const Block& bl, int64_t o0, int64_t o1) {
    for (int64_t o = o0; o < o1; ++o)
      for_images(bl, [&](int64_t n, int64_t t0, int64_t t1, int64_t col) {
        const int64_t off = (n * M + o) * OH * OW;
        output(plane, bl.m + o * ldm + col, m_xi, t0, t1, bias ? bias[o] : 0.f, z ? z + off : nullptr, act,
               y + off);
      });
  };

  if (whole_blocks) {
    runtime::parallel_for(parts, 1, [&](int64_t q0, int64_t q1) {
      const simd::ScratchLease v(t_v, v_floats), m(t_m, m_floats), in(t_in, in_floats);
      for (int64_t q = q0; q < q1; ++q) {
        const int64_t a = part_bound(q), b = part_bound(q + 1);
        for (int64_t j = 0; j < blocks_in(b - a); ++j) {
          const Block bl = block_of(a, b, j, v.data(), m.data());
          input_phase(bl, 0, C, in.data());
          gemm_phase(bl, 0, kXi);
          output_phase(bl, 0, M);
        }
      }
    });
    return;
  }
  const simd::ScratchLease v(t_v, v_floats), m(t_m, m_floats);
  for (int64_t j = 0; j < blocks_in(NT); ++j) {
    const Block bl = block_of(0, NT, j, v.data(), m.data());
    runtime::parallel_for(C, 1, [&](int64_t k0, int64_t k1) {
      const simd::ScratchLease in(t_in, in_floats);
      input_phase(bl, k0, k1, in.data());
    });
    runtime::parallel_for(kXi, 1, [&](int64_t x0, int64_t x1) { gemm_phase(bl, x0, x1); });
    runtime::parallel_for(M, 1, [&](int64_t o0, int64_t o1) { output_phase(bl, o0, o1); });
  }
}

bool run_winograd_f32(ComputeContext& ctx, const WinogradWeights* u, const kernels::ref::ConvShape& s,
                      const Tensor& x, const Tensor* b, Tensor& y) {
  if (!u || !winograd_geometry(s) || u->M != s.out_channels || u->C != s.in_channels) return false;
  if (!winograd_preferred(s.in_channels, s.out_channels, s.out_spatial[0], s.out_spatial[1])) return false;
  KernelEpilogue e;
  if (!kernel_epilogue(ctx, y, &e)) return false;
  winograd_conv_f32(*u, s, x.data_as<float>(), b ? b->data_as<float>() : nullptr, e.residual, e.act,
                    y.data_as<float>());
  if (e.present) ctx.mark_epilogue_applied();
  ctx.set_kernel(simd::gemm_kernel_name("winograd_f4x3"));
  return true;
}

}  // namespace kiln::ops
