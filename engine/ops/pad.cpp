// Pad: adds (or, for negative amounts, removes) elements at both ends of each
// axis. Negative pads crop first; the remaining pads are filled by mode:
//   constant — the constant value; edge — the nearest edge element;
//   reflect  — mirrored about the edge element (period 2·(n-1));
//   wrap     — periodic (period n).
#include <algorithm>
#include <cstring>

#include "kernels/reference/copy.h"
#include "ops/elementwise_internal.h"
#include "ops/shape_ops_internal.h"

namespace kiln::ops::shape_detail {

namespace {

enum class PadMode { Constant, Reflect, Edge, Wrap };

PadMode pad_mode(const ir::Node& n) {
  std::string m = n.attr_string("mode", "constant");
  if (m == "constant") return PadMode::Constant;
  if (m == "reflect") return PadMode::Reflect;
  if (m == "edge") return PadMode::Edge;
  if (m == "wrap" && n.opset >= 19) return PadMode::Wrap;
  throw Error(n.describe() + ": mode '" + m + "' is not supported (constant, reflect, edge" +
              (n.opset >= 19 ? ", wrap" : "") + ")");
}

// Pads per axis of a rank-`rank` tensor: [b_0 … b_{r-1}, e_0 … e_{r-1}],
// expanded from the pads of the listed axes (opset 18+).
std::vector<int64_t> full_pads(const ir::Node& n, const std::vector<int64_t>& pads, const std::vector<int64_t>* axes,
                               size_t rank) {
  std::vector<int64_t> ax;
  if (axes) ax = normalize_axes(n, *axes, static_cast<int64_t>(rank), "axes");
  else
    for (size_t i = 0; i < rank; ++i) ax.push_back(static_cast<int64_t>(i));
  if (pads.size() != 2 * ax.size())
    throw Error(n.describe() + ": pads has " + std::to_string(pads.size()) + " entries; expected " +
                std::to_string(2 * ax.size()) + " (begin and end for " + std::to_string(ax.size()) + " axes)");
  std::vector<int64_t> full(2 * rank, 0);
  for (size_t i = 0; i < ax.size(); ++i) {
    full[static_cast<size_t>(ax[i])] = pads[i];
    full[rank + static_cast<size_t>(ax[i])] = pads[ax.size() + i];
  }
  return full;
}

std::vector<int64_t> attr_pads(const ir::Node& n) {
  const char* name = n.opset < 2 ? "paddings" : "pads";
  if (!n.has_attr(name)) throw Error(n.describe() + ": attribute '" + std::string(name) + "' is required");
  return n.attr_ints(name);
}

int64_t padded_dim(const ir::Node& n, int64_t dim, int64_t b, int64_t e, size_t axis) {
  int64_t d = dim_add(dim_add(dim, b, n), e, n);
  if (d < 0)
    throw Error(n.describe() + ": pads " + std::to_string(b) + ", " + std::to_string(e) + " remove more than the " +
                std::to_string(dim) + " elements of axis " + std::to_string(axis));
  return d;
}

// Writes `v` as one element of dtype t into `out` (for the float `value`
// attribute of Pad-1/2); integers saturate, NaN becomes 0, as in Cast.
void store_as(DType t, double v, void* out) {
  auto put = [&](auto x) { std::memcpy(out, &x, sizeof x); };
  switch (t) {
    case DType::Float32: put(static_cast<float>(v)); break;
    case DType::Float64: put(v); break;
    case DType::Int64: put(elementwise::convert<int64_t>(v)); break;
    case DType::Int32: put(elementwise::convert<int32_t>(v)); break;
    case DType::Int16: put(elementwise::convert<int16_t>(v)); break;
    case DType::Int8: put(elementwise::convert<int8_t>(v)); break;
    case DType::UInt64: put(elementwise::convert<uint64_t>(v)); break;
    case DType::UInt32: put(elementwise::convert<uint32_t>(v)); break;
    case DType::UInt16: put(elementwise::convert<uint16_t>(v)); break;
    case DType::UInt8: put(elementwise::convert<uint8_t>(v)); break;
    case DType::Bool: put(static_cast<uint8_t>(v != 0)); break;
    default: throw Error("Pad: cannot store a constant value of dtype " + dtype_name(t));
  }
}

// n copies of the es-byte element `v` at dst.
void fill_elements(char* dst, int64_t n, size_t es, const char* v) {
  auto typed = [&](auto tag) {
    using T = decltype(tag);
    T t;
    std::memcpy(&t, v, sizeof t);
    std::fill(reinterpret_cast<T*>(dst), reinterpret_cast<T*>(dst) + n, t);
  };
  switch (es) {
    case 1: std::memset(dst, static_cast<unsigned char>(*v), static_cast<size_t>(n)); break;
    case 2: typed(uint16_t{}); break;
    case 4: typed(uint32_t{}); break;
    case 8: typed(uint64_t{}); break;
    default:
      for (int64_t i = 0; i < n; ++i) std::memcpy(dst + i * es, v, es);
  }
}

// Constant-mode Pad as row copies: every output row (last axis) is either all
// fill (an outer index in the padding) or fill · the kept run of an input row
// (one memcpy) · fill. pads = [b_0 … b_{r-1}, e_0 … e_{r-1}], negative = crop.
void pad_constant(const void* src_v, void* dst_v, size_t es, const std::vector<int64_t>& in,
                  const std::vector<int64_t>& pads, const std::vector<int64_t>& out, const char* fill) {
  const char* src = static_cast<const char*>(src_v);
  char* dst = static_cast<char*>(dst_v);
  const size_t r = in.size();
  if (r == 0) {
    std::memcpy(dst, src, es);
    return;
  }
  // Kept part of axis d: input [lo, lo + len) lands at output [before, before + len).
  std::vector<int64_t> lo(r), len(r), before(r), in_stride(r, 1);
  for (size_t d = 0; d < r; ++d) {
    lo[d] = std::max<int64_t>(0, -pads[d]);
    len[d] = std::max<int64_t>(0, in[d] - lo[d] - std::max<int64_t>(0, -pads[r + d]));
    before[d] = std::max<int64_t>(0, pads[d]);
  }
  for (size_t d = r - 1; d > 0; --d) in_stride[d - 1] = in_stride[d] * in[d];
  const int64_t row = out[r - 1], rows = checked_numel(out) / std::max<int64_t>(row, 1);
  const int64_t head = std::min(before[r - 1], row), body = std::min(len[r - 1], row - head);
  std::vector<int64_t> idx(r - 1, 0);  // odometer over the outer output axes
  for (int64_t q = 0; q < rows; ++q, dst += row * static_cast<int64_t>(es)) {
    int64_t off = 0;
    bool inside = body > 0;
    for (size_t d = 0; inside && d + 1 < r; ++d) {
      const int64_t j = idx[d] - before[d];
      inside = j >= 0 && j < len[d];
      off += (lo[d] + j) * in_stride[d];
    }
    if (!inside) {
      fill_elements(dst, row, es, fill);
    } else {
      fill_elements(dst, head, es, fill);
      std::memcpy(dst + head * es, src + (off + lo[r - 1]) * static_cast<int64_t>(es), static_cast<size_t>(body) * es);
      fill_elements(dst + (head + body) * es, row - head - body, es, fill);
    }
    for (size_t d = r - 1; d-- > 0;)
      if (++idx[d] < out[d]) break;
      else idx[d] = 0;
  }
}

void add_pad(OpRegistry& r) {
  OpSchema s;
  s.op_type = "Pad";
  s.since_version = 1;
  s.min_inputs = 1;
  s.max_inputs = 4;
  s.infer = [](InferContext& ctx) {
    const ir::Node& n = ctx.node();
    require_movable(ctx, 0);
    pad_mode(n);
    DType t = ctx.input(0).dtype;
    const ir::Shape& in = in_shape(ctx, 0);
    std::optional<std::vector<int64_t>> pads, axes;
    bool has_axes = false;
    if (n.opset < 11) {
      if (ctx.num_inputs() > 1) ctx.fail("takes one input before opset 11");
      pads = attr_pads(n);
    } else {
      if (!ctx.has_input(1)) ctx.fail("input 1 (pads) is required");
      require_index_dtype(ctx, 1, "pads");
      if (ctx.has_input(2) && ctx.input(2).dtype != t)
        ctx.fail("constant_value has dtype " + dtype_name(ctx.input(2).dtype) + " but data is " + dtype_name(t));
      if (ctx.has_input(3)) {
        if (n.opset < 18) ctx.fail("the axes input needs opset 18 or later");
        require_index_dtype(ctx, 3, "axes", true);
        has_axes = true;
        axes = constant_ints(ctx, 3, "axes");
      }
      pads = constant_ints(ctx, 1, "pads");
    }
    if (!in.known) {
      ctx.set_output(0, t, ir::Shape::unknown());
      return;
    }
    if (!pads || (has_axes && !axes)) {
      ctx.set_output(0, t, unknown_dims(in.rank()));
      return;
    }
    std::vector<int64_t> full = full_pads(n, *pads, has_axes ? &*axes : nullptr, in.rank());
    std::vector<int64_t> out = in.dims;
    for (size_t d = 0; d < out.size(); ++d)
      if (out[d] >= 0) out[d] = padded_dim(n, out[d], full[d], full[in.rank() + d], d);
    ctx.set_output(0, t, known(out));
  };
  s.compute = [](ComputeContext& ctx) {
    const ir::Node& n = ctx.node();
    const Tensor& x = ctx.input(0);
    const auto& dims = x.shape();
    const size_t rank = dims.size();
    const PadMode mode = pad_mode(n);
    std::vector<int64_t> pads, axes;
    if (n.opset < 11) pads = attr_pads(n);
    else pads = input_ints(ctx, 1, "pads");
    if (ctx.has_input(3)) axes = input_ints(ctx, 3, "axes");
    std::vector<int64_t> full = full_pads(n, pads, ctx.has_input(3) ? &axes : nullptr, rank);

    // The fill element: constant_value (11+, already of dtype T), the value
    // attribute (1-10), or zero.
    const size_t es = dtype_size(x.dtype());
    std::vector<char> fill(es, 0);
    if (n.opset < 11) {
      store_as(x.dtype(), n.attr_float("value", 0.f), fill.data());
    } else if (ctx.has_input(2)) {
      const Tensor& c = ctx.input(2);
      if (c.numel() != 1) ctx.fail("constant_value must hold one value, got shape " + shape_to_string(c.shape()));
      std::memcpy(fill.data(), c.data(), es);
    }

    // The output first: its size is checked against the session's limit, and
    // an empty one (which may still have a huge axis) needs no index maps.
    std::vector<int64_t> out(rank);
    for (size_t d = 0; d < rank; ++d) out[d] = padded_dim(n, dims[d], full[d], full[rank + d], d);
    if (std::all_of(full.begin(), full.end(), [](int64_t v) { return v == 0; })) {
      set_view_output(ctx, 0, 0, dims);  // nothing to add or remove: the input itself
      return;
    }
    Tensor& y = ctx.allocate_output(0, x.dtype(), out);
    if (y.numel() == 0) return;
    if (mode == PadMode::Constant) {
      pad_constant(x.data(), y.data(), es, dims, full, out, fill.data());
      return;
    }

    // Per axis: output index → input index (edge, reflect, wrap).
    std::vector<std::vector<int64_t>> maps(rank);
    for (size_t d = 0; d < rank; ++d) {
      const int64_t b = full[d], e = full[rank + d];
      const int64_t lo = std::max<int64_t>(0, -b);        // first element kept after cropping
      const int64_t len = dims[d] - lo - std::max<int64_t>(0, -e);  // elements kept
      const int64_t before = std::max<int64_t>(0, b);
      if (len <= 0 && mode != PadMode::Constant && out[d] > 0)
        ctx.fail("cannot pad an empty axis " + std::to_string(d) + " in a non-constant mode");
      maps[d].resize(static_cast<size_t>(out[d]));
      for (int64_t o = 0; o < out[d]; ++o) {
        int64_t j = o - before;  // position in the cropped axis
        if (j < 0 || j >= len) {
          switch (mode) {
            case PadMode::Constant: j = -1; break;
            case PadMode::Edge: j = j < 0 ? 0 : len - 1; break;
            case PadMode::Wrap: j = ((j % len) + len) % len; break;
            case PadMode::Reflect: {
              if (len == 1) {
                j = 0;
                break;
              }
              const int64_t period = 2 * (len - 1);
              j = ((j % period) + period) % period;
              if (j >= len) j = period - j;
              break;
            }
          }
        }
        maps[d][static_cast<size_t>(o)] = j < 0 ? -1 : lo + j;
      }
    }
    kernels::ref::copy_mapped(x.data(), y.data(), es, dims, maps, fill.data());
  };
  r.add(std::move(s));
}

}  // namespace

void register_pad_ops(OpRegistry& r) { add_pad(r); }

}  // namespace kiln::ops::shape_detail
