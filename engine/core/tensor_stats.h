// Facts about tensor storage that the engine needs and the public API does
// not offer: counters for tests that check what a run allocates, and sharing.
#pragma once

#include <cstdint>

#include "kiln/kiln.h"

namespace kiln::detail {

// Owned tensor storages allocated so far in this process (every Tensor(dtype,
// shape), clone() included; wrap() allocates nothing).
uint64_t tensor_storage_allocations();

// True when `t` owns its storage and no other tensor shares it, so that
// writing through it changes nothing anyone else can see. (Declared in
// kiln.h as Tensor's friend.)
bool storage_is_unique(const Tensor& t);

// The contiguous elements [element_offset, element_offset + numel(shape)) of
// `t` as a tensor of `shape` sharing t's storage (a Slice that needs no copy).
// An Error if they do not lie inside t. (Declared in kiln.h as Tensor's friend.)
Tensor subview(const Tensor& t, int64_t element_offset, std::vector<int64_t> shape);

}  // namespace kiln::detail
