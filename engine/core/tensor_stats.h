// Counters over tensor storage, for tests that check what a run allocates.
#pragma once

#include <cstdint>

namespace kiln::detail {

// Owned tensor storages allocated so far in this process (every Tensor(dtype,
// shape), clone() included; wrap() allocates nothing).
uint64_t tensor_storage_allocations();

}  // namespace kiln::detail
