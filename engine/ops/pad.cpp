// Pad: adds (or, for negative amounts, removes) elements at both ends of each
// axis. Negative pads crop first; the remaining pads are filled by mode:
//   constant — the constant value; edge — the nearest edge element;
//   reflect  — mirrored about the edge element (period 2·(n-1));
//   wrap     — periodic (period n).
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
    Tensor& y = ctx.allocate_output(0, x.dtype(), out);
    if (y.numel() == 0) return;

    // Per axis: output index → input index, or -1 for the constant.
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
