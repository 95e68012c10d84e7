// The one way kernels run in parallel: a static partition of [0, n) over the
// threads of the session's arena (the caller is already inside it). Each
// index must be independent work, so results never depend on the split.
//
// A run region (RunRegion, one per Session::run with more than one thread)
// keeps the session's other threads spinning for the length of the run and
// hands them each parallel_for directly: a thread that went to sleep between
// two of a run's many short loops takes tens of microseconds to wake on some
// hosts, which is most of a small layer's time. The chunks of a loop are the
// same fixed ranges with or without a region (and whoever runs them), and the
// caller runs any chunk no helper has claimed, so a helper that never starts
// (no worker free) only costs parallelism.
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
#include <atomic>
#include <cstdint>
#include <exception>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#ifndef KILN_PARALLEL_STD
#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>
#include <tbb/partitioner.h>
#include <tbb/task_arena.h>
#include <tbb/task_group.h>
#endif

#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>
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

namespace detail {

inline void cpu_relax() {
#if defined(__x86_64__) || defined(_M_X64)
  _mm_pause();
#else
  std::this_thread::yield();
#endif
}

// The shared state of a run region. Loops are published one at a time by
// the run's caller: epoch e's job (body, chunk count) sits in jobs[e % 2],
// and `ticket` packs the current epoch (high 32 bits) with the next chunk to
// claim (low 32). A chunk is claimed by a compare-exchange on the ticket, so
// a claim made against an epoch that has moved on fails, and the job slot a
// thread read for it is never used. The caller writes the next job only once
// every chunk of the current one is done, into the other slot.
struct Region {
  static constexpr uint64_t kChunkMask = 0xffffffffu;
  struct Job {
    std::atomic<const void*> body{nullptr};
    std::atomic<void (*)(const void*, int64_t, int64_t)> invoke{nullptr};
    std::atomic<int64_t> n{0}, chunks{0};
  };
  Job jobs[2];
  std::atomic<uint64_t> ticket{0};
  std::atomic<int64_t> done{0};
  std::atomic<bool> stop{false};
  std::mutex error_mu;
  std::exception_ptr error;

  // Claims and runs chunks of the job `t` (a ticket value) belongs to, until
  // none is left or the epoch moves on.
  void work(uint64_t t) {
    const uint64_t epoch = t >> 32;
    const Job& j = jobs[epoch & 1];
    const int64_t n = j.n.load(std::memory_order_relaxed), chunks = j.chunks.load(std::memory_order_relaxed);
    const void* body = j.body.load(std::memory_order_relaxed);
    const auto invoke = j.invoke.load(std::memory_order_relaxed);
    while ((t >> 32) == epoch && static_cast<int64_t>(t & kChunkMask) < chunks) {
      if (!ticket.compare_exchange_weak(t, t + 1, std::memory_order_acq_rel, std::memory_order_acquire)) continue;
      const int64_t c = static_cast<int64_t>(t & kChunkMask);
      try {
        invoke(body, c * n / chunks, (c + 1) * n / chunks);
      } catch (...) {
        const std::lock_guard<std::mutex> lock(error_mu);
        if (!error) error = std::current_exception();
      }
      done.fetch_add(1, std::memory_order_acq_rel);
      t = ticket.load(std::memory_order_acquire);
    }
  }

  // A helper: spins until a job has chunks to claim, works on it, until stopped.
  void helper() {
    int idle = 0;
    while (!stop.load(std::memory_order_acquire)) {
      const uint64_t t = ticket.load(std::memory_order_acquire);
      const Job& j = jobs[(t >> 32) & 1];
      if (static_cast<int64_t>(t & kChunkMask) < j.chunks.load(std::memory_order_relaxed)) {
        work(t);
        idle = 0;
      } else if (++idle < 20000) {
        cpu_relax();
      } else {  // after ~50 µs without work, also let the host's other threads run
        std::this_thread::yield();
      }
    }
  }
};

// The region of the run this thread is the caller of, and whether this thread
// is inside a region's chunk (where loops run inline).
inline thread_local Region* tl_region = nullptr;
inline thread_local bool tl_in_chunk = false;

// Runs the loop as `chunks` fixed chunks on the region's threads; false when
// this thread has no region.
template <class Body>
bool region_for(int64_t n, int64_t chunks, const Body& body) {
  Region* r = tl_region;
  if (!r || tl_in_chunk) return false;
  const uint64_t epoch = (r->ticket.load(std::memory_order_relaxed) >> 32) + 1;  // the caller alone bumps it
  Region::Job& j = r->jobs[epoch & 1];
  j.body.store(&body, std::memory_order_relaxed);
  j.invoke.store(
      [](const void* b, int64_t lo, int64_t hi) {
        struct InChunk {
          bool saved = tl_in_chunk;
          InChunk() { tl_in_chunk = true; }
          ~InChunk() { tl_in_chunk = saved; }
        } in_chunk;
        (*static_cast<const Body*>(b))(lo, hi);
      },
      std::memory_order_relaxed);
  j.n.store(n, std::memory_order_relaxed);
  j.chunks.store(chunks, std::memory_order_relaxed);
  r->done.store(0, std::memory_order_relaxed);
  r->error = nullptr;
  r->ticket.store((epoch & Region::kChunkMask) << 32, std::memory_order_release);
  r->work(r->ticket.load(std::memory_order_acquire));
  while (r->done.load(std::memory_order_acquire) < chunks) cpu_relax();
  if (r->error) std::rethrow_exception(r->error);
  return true;
}

}  // namespace detail

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

// Threads available to parallel_for here (1 inside a run region's chunk,
// where loops run inline).
inline int concurrency() {
  if (detail::tl_in_chunk) return 1;
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
  if (detail::tl_in_chunk) {  // inside a region's chunk: inline
    body(int64_t{0}, n);
    return;
  }
  if (detail::region_for(n, chunks, body)) return;
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

// A run region (see the top of this file) for the code in its scope on this
// thread; none with one thread, or inside another region's chunk. The std
// backend starts its helpers as threads for the region and joins them at its
// end.
class RunRegion {
 public:
  RunRegion() : saved_(detail::tl_region) {
    const int threads = concurrency();
    if (threads <= 1 || detail::tl_in_chunk) return;
    helpers_.reserve(static_cast<size_t>(threads - 1));
    for (int i = 1; i < threads; ++i)
      helpers_.emplace_back([this, threads] {
        detail::ScopedConcurrency scope(threads);
        region_.helper();
      });
    detail::tl_region = &region_;
  }
  ~RunRegion() {
    if (helpers_.empty()) return;
    region_.stop.store(true, std::memory_order_release);
    detail::tl_region = saved_;
    for (std::thread& t : helpers_) t.join();
  }
  RunRegion(const RunRegion&) = delete;
  RunRegion& operator=(const RunRegion&) = delete;

 private:
  detail::Region region_;
  detail::Region* saved_;
  std::vector<std::thread> helpers_;
};

#else  // oneTBB

// Threads available to parallel_for here (1 inside a run region's chunk,
// where loops run inline).
inline int concurrency() { return detail::tl_in_chunk ? 1 : tbb::this_task_arena::max_concurrency(); }

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
  if (detail::tl_in_chunk) {  // inside a region's chunk: inline
    body(int64_t{0}, n);
    return;
  }
  if (detail::region_for(n, std::min<int64_t>(concurrency(), (n + grain - 1) / grain), body)) return;
  tbb::parallel_for(
      tbb::blocked_range<int64_t>(0, n, grain),
      [&](const tbb::blocked_range<int64_t>& r) { body(r.begin(), r.end()); }, tbb::static_partitioner());
}

// A run region (see the top of this file) for the code in its scope on this
// thread, which must be inside the session's arena; none with one thread, or
// inside another region's chunk. Its helpers are tasks of the arena that spin
// until the region ends.
class RunRegion {
 public:
  RunRegion() : saved_(detail::tl_region) {
    const int threads = concurrency();
    if (threads <= 1 || detail::tl_in_chunk) return;
    for (int i = 1; i < threads; ++i) helpers_.run([this] { region_.helper(); });
    detail::tl_region = &region_;
    active_ = true;
  }
  ~RunRegion() {
    if (!active_) return;
    region_.stop.store(true, std::memory_order_release);
    detail::tl_region = saved_;
    helpers_.wait();  // a helper no worker picked up runs here and returns at once
  }
  RunRegion(const RunRegion&) = delete;
  RunRegion& operator=(const RunRegion&) = delete;

 private:
  detail::Region region_;
  detail::Region* saved_;
  tbb::task_group helpers_;
  bool active_ = false;
};

#endif

}  // namespace kiln::runtime
