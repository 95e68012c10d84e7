#include "ops/conv_depthwise.h"

#include <algorithm>
#include <array>
#include <string>

#include "kernels/simd/dwconv.h"
#include "kernels/simd/gemm_driver.h"
#include "ops/fused.h"
#include "runtime/parallel.h"

namespace kiln::ops {

namespace {

// The kernel name for profiles: dwconv<K>x<K>[s2][_blocked]_<arch>, made once.
const char* kernel_name(int k, int stride, bool blocked = false) {
  static const std::array<std::string, 8> names = [] {
    const std::string arch = simd::best_arch_name();
    std::array<std::string, 8> n;
    for (int i = 0; i < 8; ++i)
      n[i] = std::string(i & 2 ? "dwconv5x5" : "dwconv3x3") + (i & 1 ? "s2" : "") + (i & 4 ? "_blocked_" : "_") + arch;
    return n;
  }();
  return names[(k == 5 ? 2 : 0) + (stride == 2 ? 1 : 0) + (blocked ? 4 : 0)].c_str();
}

// Per-thread workspace (simd::ScratchLease: grown once, zeroed when grown, so
// the lanes the kernel reads past the data it wrote are never uninitialized).
thread_local simd::ThreadScratch t_work;

}  // namespace

void depthwise_conv_f32(const simd::DwConvParams& p, int64_t batch, int64_t C, const float* xp, const float* wp,
                        const float* bp, const float* zp, float* yp, bool blocked) {
  const int64_t isz = p.H * p.W, osz = p.OH * p.OW, K2 = int64_t{p.kernel} * p.kernel;
  if (blocked) {
    // Blocks of kMaxLanes channels (a multiple of every arch's vector width),
    // one task each; every block is computed the same way whatever the split.
    constexpr int64_t L = simd::detail::kMaxLanes;
    const int64_t blocks = (C + L - 1) / L, work_floats = simd::dwconv2d_blocked_workspace_floats(p);
    auto kernel = simd::dispatch(simd::dwconv2d_blocked_f32{});
    runtime::parallel_for(batch * blocks, 1, [&](int64_t t0, int64_t t1) {
      const simd::ScratchLease work(t_work, work_floats);
      for (int64_t t = t0; t < t1; ++t) {
        const int64_t n = t / blocks, c0 = t % blocks * L, nc = std::min(L, C - c0), plane = n * C + c0;
        kernel(p, nc, xp + plane * isz, wp + c0 * K2, bp ? bp + c0 : nullptr, zp ? zp + plane * osz : nullptr,
               yp + plane * osz, work.data());
      }
    });
    return;
  }
  const int64_t work_floats = simd::dwconv2d_workspace_floats(p);
  auto kernel = simd::dispatch(simd::dwconv2d_f32{});
  // One task per (image, channel) plane; each plane is computed the same way
  // whatever the split.
  runtime::parallel_for(batch * C, 1, [&](int64_t t0, int64_t t1) {
    const simd::ScratchLease work(t_work, work_floats);
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t c = t % C;
      kernel(p, xp + t * isz, wp + c * K2, bp ? bp[c] : 0.f, zp ? zp + t * osz : nullptr, yp + t * osz,
             work.data());
    }
  });
}

bool run_depthwise_f32(ComputeContext& ctx, const kernels::ref::ConvShape& s, const Tensor& x, const Tensor& w,
                       const Tensor* b, Tensor& y) {
  if (s.kernel.size() != 2 || s.group != s.in_channels || s.out_channels != s.in_channels) return false;
  if (s.kernel[0] != s.kernel[1] || s.strides[0] != s.strides[1] || s.dilations[0] != 1 || s.dilations[1] != 1)
    return false;
  simd::DwConvParams p;
  p.H = s.in_spatial[0];
  p.W = s.in_spatial[1];
  p.OH = s.out_spatial[0];
  p.OW = s.out_spatial[1];
  p.kernel = static_cast<int>(s.kernel[0]);
  p.stride = static_cast<int>(s.strides[0]);
  p.pad_top = s.pads_begin[0];
  p.pad_left = s.pads_begin[1];
  if (!simd::dwconv2d_supported(p)) return false;

  KernelEpilogue e;
  if (!kernel_epilogue(ctx, y, &e)) return false;
  p.act = e.act;
  const bool blocked = simd::dwconv2d_prefer_blocked(p);
  depthwise_conv_f32(p, s.batch, s.in_channels, x.data_as<float>(), w.data_as<float>(),
                     b ? b->data_as<float>() : nullptr, e.residual, y.data_as<float>(), blocked);
  ctx.set_kernel(kernel_name(p.kernel, p.stride, blocked));
  if (e.present) ctx.mark_epilogue_applied();
  return true;
}
}  // namespace kiln::ops
