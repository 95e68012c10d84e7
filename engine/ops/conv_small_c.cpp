#include "ops/conv_small_c.h"

#include <algorithm>
#include <string>

#include "kernels/simd/conv_small_c.h"
#include "kernels/simd/gemm_driver.h"
#include "ops/fused.h"
#include "runtime/parallel.h"

namespace kiln::ops {

namespace {

// Output rows per task. Tasks are (image, band of rows); each band copies its
// (rows − 1)·SH + KH input rows into the workspace, so short bands re-copy
// overlapping rows (cheap next to C·KH·KW·M multiply-adds per output column)
// and long ones balance worse over threads: 4 rows give 28 tasks on a
// 112-row map.
constexpr int64_t kBandRows = 4;

// Per-thread workspace, grown once (simd::ScratchLease).
thread_local simd::ThreadScratch t_work;

simd::SmallCConvParams params_of(const kernels::ref::ConvShape& s) {
  simd::SmallCConvParams p;
  p.C = s.in_channels;
  p.M = s.out_channels;
  p.H = s.in_spatial[0];
  p.W = s.in_spatial[1];
  p.OH = s.out_spatial[0];
  p.OW = s.out_spatial[1];
  p.KH = s.kernel[0];
  p.KW = s.kernel[1];
  p.stride_h = s.strides[0];
  p.stride_w = s.strides[1];
  p.pad_top = s.pads_begin[0];
  p.pad_left = s.pads_begin[1];
  return p;
}

// The kernel name for profiles: conv_small_c_<arch>, made once.
const char* kernel_name() {
  static const std::string name = std::string("conv_small_c_") + simd::best_arch_name();
  return name.c_str();
}

}  // namespace

bool small_c_geometry(const kernels::ref::ConvShape& s) {
  if (s.kernel.size() != 2 || s.group != 1 || s.dilations[0] != 1 || s.dilations[1] != 1) return false;
  return simd::conv_small_c_supported(params_of(s));
}

// The rule: always, where the geometry fits. Measured against the implicit
// GEMM (the path these convolutions took before) on one Zen 5 core, AVX-512,
// batch 1, bias + Relu, thread CPU time (the machine was shared), 2026-11-26:
//   7×7/2 3→64 224²: 950 vs 1790 us (1.88×);  3×3/2 3→32 224²: 124 vs 273 (2.2×)
//   3×3/2 3→24, 3→16 224²: 2.5×, 2.9×;  3×3/2 pad 0 3→64: 1.6×;  5×5/2 3→96: 1.5×
//   3×3/1 3→64 224² (VGG): 1.15×;  3×3/1 4→128 56²: 1.06×;  3×3/1 3→64 7²: 1.15×
//   1×1 3→16 64²: 1.08×;  5×5/1 1→32 28²: 1.3×;  tiny M (1, 2, 4, 8): 2.1–3.6×
// The implicit GEMM has K = C·KH·KW of only 9…147, so its packed panels are
// short and its im2col gather (scalar for stride 2) is a large share of the
// work; the direct kernel's only overhead is the row copy.
bool small_c_preferred(const kernels::ref::ConvShape& s) { return small_c_geometry(s); }

std::shared_ptr<const SmallCWeights> small_c_weights(const float* w, int64_t M, int64_t C, int64_t KH, int64_t KW) {
  auto u = std::make_shared<SmallCWeights>();
  u->M = M;
  u->C = C;
  u->KH = KH;
  u->KW = KW;
  u->packed = simd::AlignedFloats(static_cast<size_t>(simd::conv_small_c_packed_floats(M, C, KH, KW)));
  simd::pack_conv_small_c_weights(w, M, C, KH, KW, u->packed.data());
  return u;
}

void small_c_conv_f32(const SmallCWeights& u, const kernels::ref::ConvShape& s, const float* x, const float* bias,
                      const float* z, const simd::ActParams& act, float* y) {
  simd::SmallCConvParams p = params_of(s);
  p.act = act;
  const int64_t bands = (p.OH + kBandRows - 1) / kBandRows;
  const int64_t isz = p.C * p.H * p.W, osz = p.M * p.OH * p.OW;
  const int64_t work_floats = simd::conv_small_c_workspace_floats(p, kBandRows);
  auto kernel = simd::dispatch(simd::conv_small_c_f32{});
  // One task per (image, band of output rows): every output is computed the
  // same way whatever the split.
  runtime::parallel_for(s.batch * bands, 1, [&](int64_t t0, int64_t t1) {
    const simd::ScratchLease lease(t_work, work_floats);
    float* work = lease.data();
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t n = t / bands, oy0 = (t % bands) * kBandRows, oy1 = std::min(p.OH, oy0 + kBandRows);
      kernel(p, x + n * isz, u.packed.data(), bias, z ? z + n * osz : nullptr, y + n * osz, oy0, oy1, work);
    }
  });
}

bool run_small_c_f32(ComputeContext& ctx, const SmallCWeights* u, const kernels::ref::ConvShape& s, const Tensor& x,
                     const Tensor* b, Tensor& y) {
  if (!u || !small_c_geometry(s) || u->M != s.out_channels || u->C != s.in_channels || u->KH != s.kernel[0] ||
      u->KW != s.kernel[1])
    return false;
  if (!small_c_preferred(s)) return false;
  KernelEpilogue e;
  if (!kernel_epilogue(ctx, y, &e)) return false;
  small_c_conv_f32(*u, s, x.data_as<float>(), b ? b->data_as<float>() : nullptr, e.residual, e.act,
                   y.data_as<float>());
  if (e.present) ctx.mark_epilogue_applied();
  ctx.set_kernel(kernel_name());
  return true;
}

}  // namespace kiln::ops
