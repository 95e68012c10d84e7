// The elementwise family: registration entry point and the helpers that its
// files share (elementwise_internal.h).
#include "ops/elementwise_internal.h"
#include "ops/register.h"

namespace kiln::ops {

namespace elementwise {

DTypes operator+(DTypes a, const DTypes& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

void check_dtype(const InferContext& ctx, size_t i, const DTypes& allowed) {
  DType t = ctx.input(i).dtype;
  for (DType a : allowed)
    if (a == t) return;
  std::string list;
  for (DType a : allowed) list += (list.empty() ? "" : ", ") + dtype_name(a);
  ctx.fail("input " + std::to_string(i) + " has dtype " + dtype_name(t) + "; kiln supports " + list +
           " for this op at this opset");
}

ir::Shape broadcast_inputs(const InferContext& ctx) {
  ir::Shape out = ir::Shape::of({});
  for (size_t i = 0; i < ctx.num_inputs(); ++i)
    if (ctx.has_input(i)) out = broadcast_shapes(ctx, out, in_shape(ctx, i));
  return out;
}

std::vector<int64_t> broadcast_inputs(const ComputeContext& ctx) {
  std::vector<int64_t> out;
  for (size_t i = 0; i < ctx.num_inputs(); ++i)
    if (ctx.has_input(i)) out = broadcast_dims(ctx, out, ctx.input(i).shape());
  return out;
}

namespace {

// The legacy rule over possibly-unknown dims (-1); `fail` reports a mismatch.
template <class Fail>
std::vector<int64_t> legacy_b_dims(const ir::Node& node, const std::vector<int64_t>& a, const std::vector<int64_t>& b,
                                   const Fail& fail) {
  auto str = [](const std::vector<int64_t>& d) { return ir::Shape::of(d).str(); };
  if (node.attr_int("broadcast", 0) == 0) {
    if (a != b && a.size() == b.size()) {
      for (size_t i = 0; i < a.size(); ++i)
        if (a[i] >= 0 && b[i] >= 0 && a[i] != b[i])
          fail("shapes " + str(a) + " and " + str(b) + " differ and broadcast=0");
    } else if (a.size() != b.size()) {
      fail("shapes " + str(a) + " and " + str(b) + " differ and broadcast=0");
    }
    return b;
  }
  if (b.size() > a.size()) fail("B (" + str(b) + ") has higher rank than A (" + str(a) + ")");
  int64_t start = static_cast<int64_t>(a.size() - b.size());
  if (node.has_attr("axis")) {
    int64_t axis = node.attr_int("axis", 0);
    if (axis < 0) axis += static_cast<int64_t>(a.size());
    if (axis < 0 || axis + static_cast<int64_t>(b.size()) > static_cast<int64_t>(a.size()))
      fail("axis " + std::to_string(node.attr_int("axis", 0)) + " does not place B (" + str(b) + ") inside A (" +
           str(a) + ")");
    start = axis;
  }
  std::vector<int64_t> padded(a.size(), 1);
  for (size_t i = 0; i < b.size(); ++i) {
    int64_t da = a[start + i], db = b[i];
    if (db >= 0 && db != 1 && da >= 0 && da != db)
      fail("B (" + str(b) + ") does not match A (" + str(a) + ") at axis " + std::to_string(start + i));
    padded[start + i] = db;
  }
  return padded;
}

}  // namespace

std::vector<int64_t> legacy_broadcast_b(const ir::Node& node, const std::vector<int64_t>& a,
                                        const std::vector<int64_t>& b) {
  return legacy_b_dims(node, a, b, [&](const std::string& m) -> void {
    throw Error(node.describe() + ": " + m);
  });
}

ir::Shape legacy_broadcast_infer(const InferContext& ctx) {
  const ir::Shape& a = in_shape(ctx, 0);
  const ir::Shape& b = in_shape(ctx, 1);
  if (a.known && b.known) legacy_b_dims(ctx.node(), a.dims, b.dims, [&](const std::string& m) { ctx.fail(m); });
  return a;
}

BinaryShapes binary_shapes(const ComputeContext& ctx, bool legacy) {
  BinaryShapes s{ctx.input(0).shape(), ctx.input(1).shape(), {}};
  if (legacy) {
    s.b = legacy_broadcast_b(ctx.node(), s.a, s.b);
    s.out = s.a;
  } else {
    s.out = broadcast_dims(ctx, s.a, s.b);
  }
  return s;
}

void check_unidirectional(const InferContext& ctx, const ir::Shape& from, const ir::Shape& to, const char* what) {
  if (!from.known || !to.known) return;
  if (from.rank() > to.rank())
    ctx.fail(std::string(what) + " shape " + from.str() + " cannot be broadcast to " + to.str());
  size_t off = to.rank() - from.rank();
  for (size_t i = 0; i < from.rank(); ++i) {
    int64_t f = from.dims[i], t = to.dims[i + off];
    if (f >= 0 && f != 1 && t >= 0 && f != t)
      ctx.fail(std::string(what) + " shape " + from.str() + " cannot be broadcast to " + to.str());
  }
}

void check_unidirectional(const ComputeContext& ctx, const std::vector<int64_t>& from, const std::vector<int64_t>& to,
                          const char* what) {
  bool ok = from.size() <= to.size();
  for (size_t i = 0; ok && i < from.size(); ++i) {
    int64_t f = from[i], t = to[i + (to.size() - from.size())];
    ok = f == 1 || f == t;
  }
  if (!ok)
    ctx.fail(std::string(what) + " shape " + shape_to_string(from) + " cannot be broadcast to " + shape_to_string(to));
}

}  // namespace elementwise

void register_elementwise_ops(OpRegistry& r) {
  elementwise::register_binary_math(r);
  elementwise::register_unary_math(r);
  elementwise::register_compare(r);
  elementwise::register_variadic(r);
  elementwise::register_where(r);
  elementwise::register_cast(r);
}

}  // namespace kiln::ops
