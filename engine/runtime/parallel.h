// The one way kernels run in parallel: a static partition of [0, n) over the
// threads of the session's task arena (the caller is already inside it).
// Each index must be independent work, so results never depend on the split.
#pragma once

#include <cstdint>

#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>
#include <tbb/partitioner.h>

#if defined(__SANITIZE_THREAD__)
#define KILN_UNDER_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define KILN_UNDER_TSAN 1
#endif
#endif
#ifdef KILN_UNDER_TSAN
extern "C" void __tsan_acquire(void* addr);
extern "C" void __tsan_release(void* addr);
#endif

namespace kiln::runtime {

// oneTBB as distributions ship it is not built with ThreadSanitizer, so the
// happens-before edges of its task hand-offs (work handed to a worker, the
// join after it) are invisible to TSan. These mark them on a sync object;
// they compile to nothing in every other build.
inline void tsan_release([[maybe_unused]] void* sync) {
#ifdef KILN_UNDER_TSAN
  __tsan_release(sync);
#endif
}
inline void tsan_acquire([[maybe_unused]] void* sync) {
#ifdef KILN_UNDER_TSAN
  __tsan_acquire(sync);
#endif
}

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
  char sync = 0;
  tsan_release(&sync);
  tbb::parallel_for(
      tbb::blocked_range<int64_t>(0, n, grain),
      [&](const tbb::blocked_range<int64_t>& r) {
        tsan_acquire(&sync);
        body(r.begin(), r.end());
        tsan_release(&sync);
      },
      tbb::static_partitioner());
  tsan_acquire(&sync);
}

}  // namespace kiln::runtime
