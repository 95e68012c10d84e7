#include "kernels/simd/gemm_driver.h"

#include <algorithm>
#include <cstdlib>
#include <map>
#include <mutex>
#include <new>
#include <string>


#include "runtime/parallel.h"

namespace kiln::simd {

AlignedFloats::AlignedFloats(size_t n) : size_(n) {
  const size_t bytes = (std::max<size_t>(n, 1) * sizeof(float) + 63) / 64 * 64;
  void* p = std::aligned_alloc(64, bytes);
  if (!p) throw std::bad_alloc();
  ptr_.reset(static_cast<float*>(p));
}

void AlignedFloats::Free::operator()(float* p) const noexcept { std::free(p); }

const GemmBlocking& gemm_blocking() {
  static const GemmBlocking b = dispatch(sgemm_blocking{})();
  return b;
}

const char* gemm_kernel_name(const char* prefix) {
  static std::mutex mu;
  static std::map<std::string, std::string> names;  // map nodes never move: the pointers stay valid
  std::lock_guard<std::mutex> lock(mu);
  std::string& s = names[prefix];
  if (s.empty()) s = std::string(prefix) + "_" + best_arch_name();
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

void sgemm(const SgemmProblem& p, bool threaded) {
  if (p.M <= 0 || p.N <= 0) return;
  const GemmBlocking& b = gemm_blocking();
  auto compute = dispatch(sgemm_compute{});
  const int64_t threads = threaded ? runtime::concurrency() : 1;
  const int64_t work = p.M * p.N * std::max<int64_t>(p.K, 1);
  if (threads <= 1 || work < kMinParallelWork) {
    compute(p, int64_t{0}, p.M, int64_t{0}, p.N, thread_workspace());
    return;
  }
  const int64_t np = (p.N + b.nr - 1) / b.nr, mp = (p.M + b.mr - 1) / b.mr;
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

}  // namespace kiln::simd
