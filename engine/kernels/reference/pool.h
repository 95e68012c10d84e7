// Reference pooling over N x C x D x H x W planes (1-D and 2-D pools are run
// as 3-D with leading spatial dims of size 1, kernel 1, stride 1, no padding).
//
// Output position o along a spatial axis covers the input positions
//   i = o·stride − pad_begin + k·dilation,  k = 0 … kernel−1,
// of which only those with 0 <= i < in are read (padding is never a value).
//   MaxPool:     y = max over the read positions; the Indices output holds
//                the flat position of the first maximum (row-major over the
//                whole input, or column-major over the spatial dims when
//                storage_order = 1, plus the plane offset (n·C + c)·D·H·W).
//                A window that reads nothing yields lowest() and index −1.
//   AveragePool: y = Σ read / divisor, where divisor counts the read
//                positions (count_include_pad = 0) or the window positions
//                inside the padded extent −pad_begin <= i < in + pad_end
//                (count_include_pad = 1; positions past pad_end that
//                ceil_mode adds are never counted).
// Each call handles the planes [plane_begin, plane_end), so callers may split
// planes across threads.
#pragma once

#include <array>
#include <cstdint>

namespace kiln::kernels::ref {

struct PoolGeometry {
  // Spatial axes, innermost last (D, H, W).
  std::array<int64_t, 3> in{1, 1, 1};
  std::array<int64_t, 3> out{1, 1, 1};
  std::array<int64_t, 3> kernel{1, 1, 1};
  std::array<int64_t, 3> stride{1, 1, 1};
  std::array<int64_t, 3> dilation{1, 1, 1};
  std::array<int64_t, 3> pad_begin{0, 0, 0};
  std::array<int64_t, 3> pad_end{0, 0, 0};
  int64_t in_plane() const { return in[0] * in[1] * in[2]; }
  int64_t out_plane() const { return out[0] * out[1] * out[2]; }
};

// `indices` may be null (no Indices output). storage_order: 0 row-major, 1 column-major.
template <class T>
void max_pool(const T* x, T* y, int64_t* indices, const PoolGeometry& g, int storage_order, int64_t plane_begin,
              int64_t plane_end) noexcept;

template <class T>
void average_pool(const T* x, T* y, const PoolGeometry& g, bool count_include_pad, int64_t plane_begin,
                  int64_t plane_end) noexcept;

// Global pools: one value per plane of `plane_size` elements.
template <class T>
void global_max_pool(const T* x, T* y, int64_t plane_size, int64_t plane_begin, int64_t plane_end) noexcept;
template <class T>
void global_average_pool(const T* x, T* y, int64_t plane_size, int64_t plane_begin, int64_t plane_end) noexcept;

}  // namespace kiln::kernels::ref
