// Reference broadcasting walk for elementwise ops with K inputs.
//
// Every input is described by its element strides along the output's dims (0
// where it is broadcast). A plan drops output dims of size 1 and merges
// adjacent dims that every input walks contiguously, so that e.g.
// [N,C,H,W] + [1,C,1,1] becomes a walk over [N·C, H·W] with strides (H·W, 1)
// and (1, 0). After that the innermost stride of each input is 0 or 1, and the
// walk hands out contiguous runs of the output to a segment function.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <vector>

namespace kiln::kernels::ref {

template <size_t K>
struct BroadcastPlan {
  std::vector<int64_t> dims;                     // collapsed output dims, rank >= 1
  std::array<std::vector<int64_t>, K> strides;   // per input, per collapsed dim
  int64_t numel = 1;
};

// Builds the plan for output dims `out` and per-input strides over `out`.
template <size_t K>
BroadcastPlan<K> plan_broadcast(const std::vector<int64_t>& out, const std::array<std::vector<int64_t>, K>& strides) {
  BroadcastPlan<K> p;
  for (int64_t d : out) p.numel *= d;
  // Keep dims of size != 1 (a size-1 dim contributes nothing to any offset).
  for (size_t d = 0; d < out.size(); ++d) {
    if (out[d] == 1) continue;
    p.dims.push_back(out[d]);
    for (size_t k = 0; k < K; ++k) p.strides[k].push_back(strides[k][d]);
  }
  if (p.dims.empty()) {
    p.dims.push_back(1);
    for (size_t k = 0; k < K; ++k) p.strides[k].push_back(0);
  }
  // Merge dim d into d+1 when, for every input, stepping d equals stepping
  // d+1 dims[d+1] times: then (d, d+1) is one dim of size dims[d]·dims[d+1].
  std::vector<int64_t> dims{p.dims.back()};
  std::array<std::vector<int64_t>, K> st;
  for (size_t k = 0; k < K; ++k) st[k].push_back(p.strides[k].back());
  for (size_t d = p.dims.size() - 1; d-- > 0;) {
    bool mergeable = true;
    for (size_t k = 0; k < K; ++k) mergeable = mergeable && p.strides[k][d] == st[k].back() * dims.back();
    if (mergeable) {
      dims.back() *= p.dims[d];
    } else {
      dims.push_back(p.dims[d]);
      for (size_t k = 0; k < K; ++k) st[k].push_back(p.strides[k][d]);
    }
  }
  std::reverse(dims.begin(), dims.end());
  for (size_t k = 0; k < K; ++k) std::reverse(st[k].begin(), st[k].end());
  p.dims = std::move(dims);
  p.strides = std::move(st);
  return p;
}

// Calls seg(out_offset, in_offsets, len) for the contiguous runs that cover
// output elements [begin, end). Within a run, input k advances by
// p.strides[k].back() (0 or 1) per element.
template <size_t K, class Seg>
void walk_broadcast(const BroadcastPlan<K>& p, int64_t begin, int64_t end, Seg&& seg) {
  const size_t r = p.dims.size();
  const int64_t inner = p.dims[r - 1];
  std::vector<int64_t> idx(r);
  int64_t rem = begin;
  for (size_t d = r; d-- > 0;) {
    idx[d] = rem % p.dims[d];
    rem /= p.dims[d];
  }
  std::array<int64_t, K> off{};
  for (size_t k = 0; k < K; ++k)
    for (size_t d = 0; d < r; ++d) off[k] += idx[d] * p.strides[k][d];
  int64_t pos = begin;
  while (pos < end) {
    int64_t len = std::min(inner - idx[r - 1], end - pos);
    seg(pos, off, len);
    pos += len;
    idx[r - 1] += len;
    for (size_t k = 0; k < K; ++k) off[k] += len * p.strides[k][r - 1];
    // Carry into outer dims, rewinding the offsets of the dim that wrapped.
    for (size_t d = r - 1; d > 0 && idx[d] == p.dims[d]; --d) {
      idx[d] = 0;
      ++idx[d - 1];
      for (size_t k = 0; k < K; ++k) off[k] += p.strides[k][d - 1] - p.dims[d] * p.strides[k][d];
    }
  }
}

// c[i] = f(a[i·sa], b[i·sb]) for i < n; sa, sb ∈ {0, 1} get loops the
// compiler can vectorize.
template <class A, class B, class C, class F>
void binary_run(const A* a, int64_t sa, const B* b, int64_t sb, C* c, int64_t n, const F& f) {
  if (sa == 1 && sb == 1) {
    for (int64_t i = 0; i < n; ++i) c[i] = f(a[i], b[i]);
  } else if (sa == 1 && sb == 0) {
    const B v = *b;
    for (int64_t i = 0; i < n; ++i) c[i] = f(a[i], v);
  } else if (sa == 0 && sb == 1) {
    const A u = *a;
    for (int64_t i = 0; i < n; ++i) c[i] = f(u, b[i]);
  } else {
    for (int64_t i = 0; i < n; ++i) c[i] = f(a[i * sa], b[i * sb]);
  }
}

// Output elements [begin, end) of c = f(a, b) under plan p.
template <class A, class B, class C, class F>
void binary_broadcast(const BroadcastPlan<2>& p, const A* a, const B* b, C* c, int64_t begin, int64_t end,
                      const F& f) {
  const int64_t sa = p.strides[0].back(), sb = p.strides[1].back();
  walk_broadcast(p, begin, end, [&](int64_t o, const std::array<int64_t, 2>& off, int64_t n) {
    binary_run(a + off[0], sa, b + off[1], sb, c + o, n, f);
  });
}

// Output elements [begin, end) of d = f(a, b, c) under plan p.
template <class A, class B, class C, class D, class F>
void ternary_broadcast(const BroadcastPlan<3>& p, const A* a, const B* b, const C* c, D* d, int64_t begin,
                       int64_t end, const F& f) {
  const int64_t sa = p.strides[0].back(), sb = p.strides[1].back(), sc = p.strides[2].back();
  walk_broadcast(p, begin, end, [&](int64_t o, const std::array<int64_t, 3>& off, int64_t n) {
    const A* pa = a + off[0];
    const B* pb = b + off[1];
    const C* pc = c + off[2];
    D* pd = d + o;
    if (sa == 1 && sb == 1 && sc == 1) {
      for (int64_t i = 0; i < n; ++i) pd[i] = f(pa[i], pb[i], pc[i]);
    } else {
      for (int64_t i = 0; i < n; ++i) pd[i] = f(pa[i * sa], pb[i * sb], pc[i * sc]);
    }
  });
}

}  // namespace kiln::kernels::ref
