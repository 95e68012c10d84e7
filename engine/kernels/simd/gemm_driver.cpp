#include "kernels/simd/gemm_driver.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <new>
#include <optional>
#include <string>
#include <vector>
#include <utility>

#include "runtime/parallel.h"

namespace kiln::simd {

AlignedFloats::AlignedFloats(size_t n) : size_(n) {
  const size_t bytes = (std::max<size_t>(n, 1) * sizeof(float) + 63) / 64 * 64;
  void* p = std::aligned_alloc(64, bytes);
  if (!p) throw std::bad_alloc();
  ptr_.reset(static_cast<float*>(p));
}

void AlignedFloats::Free::operator()(float* p) const noexcept { std::free(p); }

ScratchLease::ScratchLease(ThreadScratch& s, int64_t floats) : s_(s.busy ? nullptr : &s) {
  AlignedFloats& buf = s_ ? s_->buf : own_;
  if (s_) s_->busy = true;
  if (static_cast<int64_t>(buf.size()) < floats) {
    buf = AlignedFloats(static_cast<size_t>(floats));
    std::memset(buf.data(), 0, buf.size() * sizeof(float));
  }
  data_ = buf.data();
}

ScratchLease::~ScratchLease() {
  if (s_) s_->busy = false;
}

const GemmBlocking& gemm_blocking() {
  static const GemmBlocking b = dispatch(sgemm_blocking{})();
  return b;
}

const char* gemm_kernel_name(const char* prefix) {
  // Ops name their kernel on every run: a per-thread cache keyed by the
  // prefix's address (call sites pass literals) answers without a lock or an
  // allocation once a thread has seen that prefix.
  thread_local std::vector<std::pair<const char*, const char*>> seen;
  for (const auto& [p, name] : seen)
    if (p == prefix) return name;
  static std::mutex mu;
  static std::map<std::string, std::string> names;  // map nodes never move: the pointers stay valid
  std::lock_guard<std::mutex> lock(mu);
  std::string& s = names[prefix];
  if (s.empty()) s = std::string(prefix) + "_" + best_arch_name();
  seen.emplace_back(prefix, s.c_str());
  return s.c_str();
}

AlignedFloats pack_gemm_a(const float* a, int64_t lda, bool trans, int64_t M, int64_t K) {
  const GemmBlocking& b = gemm_blocking();
  AlignedFloats out(static_cast<size_t>((M + b.mr - 1) / b.mr * b.mr * std::max<int64_t>(K, 1)));
  dispatch(sgemm_pack_a{})(a, lda, trans, M, K, out.data());
  return out;
}

AlignedFloats pack_gemm_b(const float* bm, int64_t ldb, bool trans, int64_t K, int64_t N) {
  const GemmBlocking& b = gemm_blocking();
  AlignedFloats out(static_cast<size_t>((N + b.nr - 1) / b.nr * b.nr * std::max<int64_t>(K, 1)));
  dispatch(sgemm_pack_b{})(bm, ldb, trans, K, N, out.data());
  return out;
}

namespace {

// This thread's scratch for packed blocks, grown once and kept.
float* thread_workspace() {
  thread_local AlignedFloats ws;
  const size_t need = static_cast<size_t>(gemm_blocking().workspace_floats);
  if (ws.size() < need) ws = AlignedFloats(need);
  return ws.data();
}

// Multiply-adds below which one thread does the whole product.
constexpr int64_t kMinParallelWork = int64_t{1} << 17;

// Fraction of the threads kept busy when `panels` equal panels go round `threads`.
double balance(int64_t panels, int64_t threads) {
  const int64_t rounds = (panels + threads - 1) / threads;
  return static_cast<double>(panels) / static_cast<double>(rounds * threads);
}

}  // namespace

namespace {

// An im2col A' of a padded input as the same im2col of a zero-padded copy
// with no padding, which sgemm_compute reads in place instead of packing:
// the copy covers exactly the rows and columns the taps reach.
const SgemmProblem& unpad_a_im2col(const SgemmProblem& p, SgemmProblem& q, Im2col2d& g,
                                   std::optional<ScratchLease>& lease) {
  if (!p.a_im2col || p.packed_a || (p.a_im2col->ph == 0 && p.a_im2col->pw == 0)) return p;
  const Im2col2d& s = *p.a_im2col;
  g = s;
  g.H = (s.OH - 1) * s.sh + (s.kh - 1) * s.dh + 1;
  g.W = (s.OW - 1) * s.sw + (s.kw - 1) * s.dw + 1;
  g.ph = g.pw = 0;
  thread_local ThreadScratch buf;
  float* d = lease.emplace(buf, s.channels * g.H * g.W).data();
  for (int64_t c = 0; c < s.channels; ++c)
    for (int64_t h = 0; h < g.H; ++h) {
      float* row = d + (c * g.H + h) * g.W;
      const int64_t ih = h - s.ph, lo = std::clamp<int64_t>(s.pw, 0, g.W), hi = std::clamp<int64_t>(s.pw + s.W, lo, g.W);
      if (ih < 0 || ih >= s.H) {
        std::fill(row, row + g.W, 0.f);
        continue;
      }
      const float* src = s.x + (c * s.H + ih) * s.W + (lo - s.pw);  // input column lo − pw
      std::fill(row, row + lo, 0.f);
      std::copy(src, src + (hi - lo), row + lo);
      std::fill(row + hi, row + g.W, 0.f);
    }
  g.x = d;
  q = p;
  q.a_im2col = &g;
  return q;
}

}  // namespace

void sgemm(const SgemmProblem& p0, bool threaded) {
  if (p0.M <= 0 || p0.N <= 0) return;
  const GemmBlocking& b = gemm_blocking();
  auto compute = dispatch(sgemm_compute{});
  SgemmProblem unpadded;
  Im2col2d unpadded_g;
  std::optional<ScratchLease> unpadded_x;
  const SgemmProblem& p = unpad_a_im2col(p0, unpadded, unpadded_g, unpadded_x);
  const int64_t threads = threaded ? runtime::concurrency() : 1;
  const int64_t work = p.M * p.N * std::max<int64_t>(p.K, 1);
  if (threads <= 1 || work < kMinParallelWork) {
    compute(p, int64_t{0}, p.M, int64_t{0}, p.N, thread_workspace());
    return;
  }
  const int64_t np = (p.N + b.nr - 1) / b.nr, mp = (p.M + b.mr - 1) / b.mr;
  if (p.trans_c) {
    const int64_t nv = (p.N + b.width - 1) / b.width;
    if (nv >= 2 * threads) {
      SgemmProblem q = p;
      if (!q.packed_a && !q.a_im2col) {
        // A' packed once, K block by K block, into the calling thread's buffer;
        // parallel_for returns when every block is written. (An im2col A' is
        // read in place, unpadded above, and needs no packing.)
        thread_local ThreadScratch shared_buf;
        const ScratchLease shared(shared_buf, mp * b.mr * std::max<int64_t>(p.K, 1));
        auto pack = dispatch(sgemm_pack_a_blocks{});
        runtime::parallel_for((p.K + b.kc - 1) / b.kc, 1,
                              [&](int64_t begin, int64_t end) { pack(p, begin, end, shared.data()); });
        q.packed_a = shared.data();
        runtime::parallel_for(nv, 1, [&](int64_t begin, int64_t end) {
          compute(q, int64_t{0}, q.M, begin * b.width, std::min(q.N, end * b.width), thread_workspace());
        });
        return;
      }
      runtime::parallel_for(nv, 1, [&](int64_t begin, int64_t end) {
        compute(q, int64_t{0}, q.M, begin * b.width, std::min(q.N, end * b.width), thread_workspace());
      });
    } else {
      runtime::parallel_for(mp, 1, [&](int64_t begin, int64_t end) {
        compute(p, begin * b.mr, std::min(p.M, end * b.mr), int64_t{0}, p.N, thread_workspace());
      });
    }
    return;
  }
  // Column ranges pack the (shared) A block again per thread but each their
  // own B columns, which is what an im2col B costs most; prefer them unless
  // row ranges share out clearly better.
  if (balance(np, threads) >= 0.9 * balance(mp, threads)) {
    runtime::parallel_for(np, 1, [&](int64_t begin, int64_t end) {
      compute(p, int64_t{0}, p.M, begin * b.nr, std::min(p.N, end * b.nr), thread_workspace());
    });
  } else {
    runtime::parallel_for(mp, 1, [&](int64_t begin, int64_t end) {
      compute(p, begin * b.mr, std::min(p.M, end * b.mr), int64_t{0}, p.N, thread_workspace());
    });
  }
}

bool conv_gemm_transposed(int64_t channels, int64_t positions) {
  const GemmBlocking& b = gemm_blocking();
  if (positions < 2 || positions > b.mc || channels < 1) return false;
  auto filled = [&](int64_t n) { return static_cast<double>(n) / static_cast<double>((n + b.width - 1) / b.width * b.width); };
  return filled(channels) >= filled(positions);
}

}  // namespace kiln::simd
