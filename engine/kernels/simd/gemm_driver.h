// The threaded face of the packed SGEMM (kernels/simd/gemm.h) on the best
// arch this CPU runs: weights packed once, and a driver that shares C's
// panels out over the session's threads. Baseline code only: kept out of
// gemm.h, which the per-arch translation units include.
#pragma once

#include <cstdint>
#include <memory>

#include "kernels/simd/gemm.h"

namespace kiln::simd {

// 64-byte aligned floats (packed panels are read with aligned loads).
class AlignedFloats {
 public:
  AlignedFloats() = default;
  explicit AlignedFloats(size_t n);
  float* data() { return ptr_.get(); }
  const float* data() const { return ptr_.get(); }
  size_t size() const { return size_; }

 private:
  struct Free {
    void operator()(float* p) const noexcept;
  };
  std::unique_ptr<float[], Free> ptr_;
  size_t size_ = 0;
};

// A thread's scratch buffer, leased for the length of one use, grown once
// (zeroed when grown, so lanes a kernel reads past what it wrote are never
// uninitialized memory). A use that finds it taken gets a buffer of its own:
// a thread waiting inside parallel_for may be handed any task of its arena,
// including another caller's whole Session::run (oneTBB runs the
// arena.execute of a caller that finds no free slot as a task), which must
// not reuse a buffer the waiting call still holds.
struct ThreadScratch {
  AlignedFloats buf;
  bool busy = false;
};
class ScratchLease {
 public:
  ScratchLease(ThreadScratch& s, int64_t floats);
  ~ScratchLease();
  ScratchLease(const ScratchLease&) = delete;
  ScratchLease& operator=(const ScratchLease&) = delete;
  float* data() const { return data_; }

 private:
  ThreadScratch* s_;
  AlignedFloats own_;
  float* data_;
};

// Blocking of the arch sgemm runs on (the best this CPU has).
const GemmBlocking& gemm_blocking();
// "sgemm_avx512f", "sgemm_fma3<avx2>", … — prefix + "_" + arch name, for
// profiles. Valid for the life of the program. `prefix` must have static
// storage (a literal): it is cached by address.
const char* gemm_kernel_name(const char* prefix = "sgemm");

// A' (M×K) or B' (K×N) packed once for every later sgemm (see gemm.h).
AlignedFloats pack_gemm_a(const float* a, int64_t lda, bool trans, int64_t M, int64_t K);
AlignedFloats pack_gemm_b(const float* b, int64_t ldb, bool trans, int64_t K, int64_t N);

// Computes problem p. With threaded, C is split into ranges of whole
// column panels (or row panels when there are too few column panels to go
// round) over the current task arena with a static partition; the K order
// of every element is the same whatever the split (gemm.h), so results do not
// depend on the thread count. A trans_c problem (a convolution computed as
// Yᵀ) splits its columns (output channels) in whole vectors, so that each
// thread streams only its share of the weights; its A' (the positions) is
// shared: an im2col A' is read in place (a padded input first copied once,
// zero-padded, by the calling thread), another A' packed once into a buffer
// all threads read. With fewer than two vectors per thread it splits rows
// (positions) instead.
void sgemm(const SgemmProblem& p, bool threaded = true);

// Whether a convolution GEMM of `channels` output channels over `positions`
// output positions should run transposed (gemm.h: Yᵀ = im2col(X)ᵀ · Wᵀ, the
// weights packed as B' = Wᵀ by pack_gemm_b(W, K, true, K, channels)): when
// the positions fit one row block and the channels fill the vector lanes at
// least as well as the positions would.
bool conv_gemm_transposed(int64_t channels, int64_t positions);

}  // namespace kiln::simd
