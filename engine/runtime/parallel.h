// The one way kernels run in parallel: a static partition of [0, n) over the
// threads of the session's task arena (the caller is already inside it).
// Each index must be independent work, so results never depend on the split.
#pragma once

#include <cstdint>

#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>
#include <tbb/partitioner.h>

namespace kiln::runtime {

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

}  // namespace kiln::runtime
