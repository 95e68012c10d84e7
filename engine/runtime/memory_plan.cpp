#include "runtime/memory_plan.h"

#include <algorithm>
#include <cstdint>
#include <numeric>

namespace kiln::runtime {

ArenaLayout plan_arena(const std::vector<BufferRequest>& requests) {
  auto rounded = [](size_t b) { return std::max<size_t>(1, (b + kArenaAlignment - 1) / kArenaAlignment) * kArenaAlignment; };
  std::vector<size_t> order(requests.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    if (requests[a].bytes != requests[b].bytes) return requests[a].bytes > requests[b].bytes;
    return requests[a].first < requests[b].first;
  });

  ArenaLayout layout;
  layout.offsets.assign(requests.size(), 0);
  std::vector<size_t> placed;  // request indices, in placement order
  std::vector<std::pair<size_t, size_t>> busy;  // [offset, end) of placed buffers overlapping in time
  for (size_t r : order) {
    const BufferRequest& q = requests[r];
    size_t size = rounded(q.bytes);
    busy.clear();
    for (size_t p : placed) {
      const BufferRequest& o = requests[p];
      if (o.first <= q.last && q.first <= o.last) busy.emplace_back(layout.offsets[p], layout.offsets[p] + rounded(o.bytes));
    }
    std::sort(busy.begin(), busy.end());
    size_t best = SIZE_MAX, best_gap = SIZE_MAX, end = 0;
    for (const auto& [b, e] : busy) {
      if (b > end && b - end >= size && b - end < best_gap) {
        best = end;
        best_gap = b - end;
      }
      end = std::max(end, e);
    }
    layout.offsets[r] = best != SIZE_MAX ? best : end;
    layout.total = std::max(layout.total, layout.offsets[r] + size);
    placed.push_back(r);
  }
  return layout;
}

}  // namespace kiln::runtime
