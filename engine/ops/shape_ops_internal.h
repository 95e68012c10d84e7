// Private to the shape-op family (shape_ops.cpp and the files it registers):
// the per-file registration functions and the small helpers they share.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "ops/op_util.h"

namespace kiln::ops::shape_detail {

void register_reshape_ops(OpRegistry& r);       // Reshape, Flatten, Squeeze, Unsqueeze  (reshape.cpp)
void register_transpose_ops(OpRegistry& r);     // Transpose                             (transpose.cpp)
void register_concat_split_ops(OpRegistry& r);  // Concat, Split                         (concat_split.cpp)
void register_slice_gather_ops(OpRegistry& r);  // Slice, Gather                         (slice_gather.cpp)
void register_expand_tile_ops(OpRegistry& r);   // Expand, Tile                          (expand_tile.cpp)
void register_pad_ops(OpRegistry& r);           // Pad                                   (pad.cpp)

// Errors unless input i has a dtype with a fixed element size (every dtype
// kiln can hold): these ops only move elements.
void require_movable(const InferContext& ctx, size_t i);
// Errors unless input i is int64 (or int32 when `allow_int32`).
void require_index_dtype(const InferContext& ctx, size_t i, const char* what, bool allow_int32 = false);
// The values of input i when it is a constant 0-D/1-D integer tensor.
std::optional<std::vector<int64_t>> constant_ints(const InferContext& ctx, size_t i, const char* what);
// The values of input i at compute time, or `def` when the input is absent.
std::vector<int64_t> input_ints(const ComputeContext& ctx, size_t i, const char* what,
                                std::vector<int64_t> def = {});
// Number of elements of a 1-D input i when its shape says so, else -1.
int64_t known_length(const InferContext& ctx, size_t i);
// Shape with `rank` unknown dims.
ir::Shape unknown_dims(size_t rank);
// Output `out` is input `in` with another shape (same element count) — or,
// given `element_offset`, the contiguous run of it starting there (a Slice): a view sharing storage, except when
// the data is a constant of the graph or leaves the graph (a caller must
// never be able to write into the session's constants); then a copy.
void set_view_output(ComputeContext& ctx, size_t out, size_t in, std::vector<int64_t> shape,
                     std::optional<int64_t> element_offset = std::nullopt);
// Normalizes a list of axes for `rank`; errors on a repeated axis.
std::vector<int64_t> normalize_axes(const ir::Node& node, std::vector<int64_t> axes, int64_t rank, const char* what,
                                    bool allow_repeat = false);

}  // namespace kiln::ops::shape_detail
