// The one way kernels run in parallel: a static partition of [0, n) over the
// threads of the session's arena (the caller is already inside it). Each
// index must be independent work, so results never depend on the split.
//
// Two backends, chosen at build time (CMake KILN_THREADING):
//   tbb  (default) a tbb::task_arena per session; parallel_for is
//        tbb::parallel_for with a static partitioner inside it.
//   std  the same contract on plain std::thread: Arena::execute runs on the
//        calling thread, parallel_for runs its chunks on threads started for
//        the call and joined before it returns. Slower, and meant for
//        ThreadSanitizer builds: Debian's oneTBB is not built with TSan, so
//        the hand-offs inside it (a range split on one thread and read on
//        another, an arena call run by another thread) look like races, while
//        every synchronisation of this backend is one TSan sees. A TSan run on
//        it therefore checks all of kiln's own code with no suppressions.
#pragma once

#include <algorithm>
#include <cstdint>
#include <exception>
#include <thread>
#include <utility>
#include <vector>

#ifndef KILN_PARALLEL_STD
#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>
#include <tbb/partitioner.h>
#include <tbb/task_arena.h>
#endif

#if defined(__SANITIZE_THREAD__)
#define KILN_UNDER_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define KILN_UNDER_TSAN 1
#endif
#endif
#if defined(KILN_UNDER_TSAN) && !defined(KILN_PARALLEL_STD)
#error "ThreadSanitizer builds need -DKILN_THREADING=std: the distribution's oneTBB is not instrumented"
#endif

namespace kiln::runtime {

#ifdef KILN_PARALLEL_STD
namespace detail {
// Threads of the arena this thread runs in; 0 outside any (all cores).
inline thread_local int tl_concurrency = 0;

class ScopedConcurrency {
 public:
  explicit ScopedConcurrency(int c) : saved_(tl_concurrency) { tl_concurrency = c; }
  ~ScopedConcurrency() { tl_concurrency = saved_; }
  ScopedConcurrency(const ScopedConcurrency&) = delete;
  ScopedConcurrency& operator=(const ScopedConcurrency&) = delete;

 private:
  int saved_;
};
}  // namespace detail

// Threads available to parallel_for here.
inline int concurrency() {
  if (detail::tl_concurrency > 0) return detail::tl_concurrency;
  const unsigned h = std::thread::hardware_concurrency();
  return h > 0 ? static_cast<int>(h) : 1;
}

// A session's threads: work given to execute() runs with `threads` threads.
class Arena {
 public:
  explicit Arena(int threads) : threads_(std::max(1, threads)) {}
  template <class F>
  void execute(F&& f) const {
    detail::ScopedConcurrency scope(threads_);
    f();
  }

 private:
  int threads_;
};

// Calls body(begin, end) on disjoint chunks covering [0, n), at least `grain`
// long, one per thread; runs inline when n is no larger than `grain`. Calls
// made inside a chunk run inline (as nested TBB loops reuse the same threads).
template <class Body>
void parallel_for(int64_t n, int64_t grain, const Body& body) {
  if (n <= 0) return;
  if (grain < 1) grain = 1;
  const int64_t chunks = std::min<int64_t>(concurrency(), n / grain);
  if (chunks <= 1) {
    body(int64_t{0}, n);
    return;
  }
  std::vector<std::exception_ptr> errors(static_cast<size_t>(chunks));
  auto run_chunk = [&](int64_t c) {
    detail::ScopedConcurrency inline_nested(1);
    try {
      body(c * n / chunks, (c + 1) * n / chunks);
    } catch (...) {
      errors[static_cast<size_t>(c)] = std::current_exception();
    }
  };
  std::vector<std::thread> threads;
  threads.reserve(static_cast<size_t>(chunks - 1));
  for (int64_t c = 1; c < chunks; ++c) threads.emplace_back(run_chunk, c);
  run_chunk(0);
  for (std::thread& t : threads) t.join();
  for (const std::exception_ptr& e : errors)
    if (e) std::rethrow_exception(e);
}

#else  // oneTBB

// Threads available to parallel_for here.
inline int concurrency() { return tbb::this_task_arena::max_concurrency(); }

// A session's threads: work given to execute() runs inside a task arena of
// `threads` slots, so sessions never oversubscribe the cores between them.
class Arena {
 public:
  explicit Arena(int threads) : arena_(std::max(1, threads)) {}
  template <class F>
  void execute(F&& f) const {
    arena_.execute(std::forward<F>(f));
  }

 private:
  mutable tbb::task_arena arena_;
};

// Calls body(begin, end) on disjoint chunks covering [0, n). Runs inline when
// n is no larger than `grain`.
template <class Body>
void parallel_for(int64_t n, int64_t grain, const Body& body) {
  if (n <= 0) return;
  if (grain < 1) grain = 1;
  if (n <= grain) {
    body(int64_t{0}, n);
    return;
  }
  tbb::parallel_for(
      tbb::blocked_range<int64_t>(0, n, grain),
      [&](const tbb::blocked_range<int64_t>& r) { body(r.begin(), r.end()); }, tbb::static_partitioner());
}

#endif

}  // namespace kiln::runtime
