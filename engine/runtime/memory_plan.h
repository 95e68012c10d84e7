// Arena layout: given buffers with sizes and lifetimes (inclusive step ranges
// in execution order), offsets in one arena such that buffers alive at the
// same step never overlap.
#pragma once

#include <cstddef>
#include <vector>

namespace kiln::runtime {

struct BufferRequest {
  size_t bytes = 0;
  int first = 0, last = 0;  // steps that define and last use it
};

struct ArenaLayout {
  std::vector<size_t> offsets;  // per request, multiples of kArenaAlignment
  size_t total = 0;             // arena size in bytes
};

inline constexpr size_t kArenaAlignment = 64;

// Greedy by size with best fit: largest buffers first; each goes into the
// smallest gap between buffers whose lifetimes overlap its own, or after
// them all. Deterministic for a given input.
ArenaLayout plan_arena(const std::vector<BufferRequest>& requests);

}  // namespace kiln::runtime
