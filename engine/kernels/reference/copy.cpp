#include "kernels/reference/copy.h"

#include <cstring>

namespace kiln::kernels::ref {

namespace {

// Copies n elements from src (stride `step` elements) to dense dst.
void copy_row(const char* src, char* dst, size_t elem, int64_t n, int64_t step) noexcept {
  if (step == 1) {
    std::memcpy(dst, src, static_cast<size_t>(n) * elem);
    return;
  }
  const int64_t bstep = step * static_cast<int64_t>(elem);
  // Fixed-size memcpy compiles to one load/store per element.
  switch (elem) {
    case 1: for (int64_t j = 0; j < n; ++j, src += bstep, dst += 1) std::memcpy(dst, src, 1); break;
    case 2: for (int64_t j = 0; j < n; ++j, src += bstep, dst += 2) std::memcpy(dst, src, 2); break;
    case 4: for (int64_t j = 0; j < n; ++j, src += bstep, dst += 4) std::memcpy(dst, src, 4); break;
    case 8: for (int64_t j = 0; j < n; ++j, src += bstep, dst += 8) std::memcpy(dst, src, 8); break;
    default: for (int64_t j = 0; j < n; ++j, src += bstep, dst += elem) std::memcpy(dst, src, elem); break;
  }
}

}  // namespace

void copy_strided(const void* src_v, void* dst_v, size_t elem, const std::vector<int64_t>& shape_in,
                  const std::vector<int64_t>& strides_in, int64_t offset) noexcept {
  const char* src = static_cast<const char*>(src_v);
  char* dst = static_cast<char*>(dst_v);
  for (int64_t d : shape_in)
    if (d == 0) return;
  // Merge each dim into the next where the source steps over it as one run
  // (dst is dense, so it always does): a transpose that moves whole planes
  // (ShuffleNet's channel shuffle) then copies planes, not rows; dims of one
  // element go away.
  // Per-thread buffers that grow once: no allocation per call.
  thread_local std::vector<int64_t> out_shape, strides, idx;
  out_shape.clear();
  strides.clear();
  for (size_t d = 0; d < shape_in.size(); ++d) {
    if (shape_in[d] == 1) continue;
    if (!out_shape.empty() && strides.back() == strides_in[d] * shape_in[d]) {
      out_shape.back() *= shape_in[d];
      strides.back() = strides_in[d];
      continue;
    }
    out_shape.push_back(shape_in[d]);
    strides.push_back(strides_in[d]);
  }
  if (out_shape.empty() && !shape_in.empty()) {  // every dim 1: one element
    out_shape.push_back(1);
    strides.push_back(1);
  }
  const size_t r = out_shape.size();
  if (r == 0) {
    std::memcpy(dst, src + offset * static_cast<int64_t>(elem), elem);
    return;
  }
  const int64_t inner = out_shape[r - 1], inner_stride = strides[r - 1];
  idx.assign(r - 1, 0);  // odometer over the outer dims
  int64_t src_pos = offset;
  while (true) {
    copy_row(src + src_pos * static_cast<int64_t>(elem), dst, elem, inner, inner_stride);
    dst += static_cast<size_t>(inner) * elem;
    size_t d = r - 1;
    while (d > 0) {
      --d;
      ++idx[d];
      src_pos += strides[d];
      if (idx[d] < out_shape[d]) break;
      src_pos -= strides[d] * out_shape[d];
      idx[d] = 0;
      if (d == 0) return;
    }
    if (r == 1) return;
  }
}

void copy_mapped(const void* src_v, void* dst_v, size_t elem, const std::vector<int64_t>& src_shape,
                 const std::vector<std::vector<int64_t>>& maps, const void* fill) noexcept {
  const char* src = static_cast<const char*>(src_v);
  char* dst = static_cast<char*>(dst_v);
  const size_t r = maps.size();
  for (const auto& m : maps)
    if (m.empty()) return;
  if (r == 0) {
    std::memcpy(dst, src, elem);
    return;
  }
  std::vector<int64_t> stride(r, 1);
  for (size_t d = r - 1; d > 0; --d) stride[d - 1] = stride[d] * src_shape[d];
  const std::vector<int64_t>& last = maps[r - 1];
  const int64_t inner = static_cast<int64_t>(last.size());
  std::vector<size_t> idx(r - 1, 0);
  while (true) {
    // Offset of the row selected by the outer indices, or -1 when it is fill.
    int64_t base = 0;
    bool filled = false;
    for (size_t d = 0; d + 1 < r; ++d) {
      int64_t m = maps[d][idx[d]];
      if (m < 0) filled = true;
      base += m * stride[d];
    }
    for (int64_t j = 0; j < inner; ++j, dst += elem) {
      int64_t m = last[static_cast<size_t>(j)];
      if (filled || m < 0) std::memcpy(dst, fill, elem);
      else std::memcpy(dst, src + (base + m) * static_cast<int64_t>(elem), elem);
    }
    if (r == 1) return;
    size_t d = r - 1;
    while (true) {
      --d;
      if (++idx[d] < maps[d].size()) break;
      idx[d] = 0;
      if (d == 0) return;
    }
  }
}

}  // namespace kiln::kernels::ref
