// Reference data-movement kernels shared by the layout ops (Transpose, Slice,
// Expand, Tile, Pad, nearest Resize …). They move elements of `elem_size`
// bytes and never look at their values, so one body serves every dtype.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace kiln::kernels::ref {

// Dense row-major dst of shape `out_shape`:
//   dst[i_0, …, i_{r-1}] = src[src_offset + Σ_d i_d · src_strides[d]]
// Strides are in elements and may be zero (broadcast) or negative (reversed
// slices). Rank 0 copies one element.
void copy_strided(const void* src, void* dst, size_t elem_size, const std::vector<int64_t>& out_shape,
                  const std::vector<int64_t>& src_strides, int64_t src_offset) noexcept;

// Dense row-major dst whose dim d has maps[d].size() entries:
//   dst[i_0, …, i_{r-1}] = src[Σ_d maps[d][i_d] · stride_d]   (src dense with `src_shape`)
// where a map entry of -1 along any axis makes that element `fill` (elem_size
// bytes) instead. Every other entry must be in [0, src_shape[d]).
void copy_mapped(const void* src, void* dst, size_t elem_size, const std::vector<int64_t>& src_shape,
                 const std::vector<std::vector<int64_t>>& maps, const void* fill) noexcept;

}  // namespace kiln::kernels::ref
