#include "passes/fusion_util.h"

namespace kiln::passes {

std::string epilogue_base(const ir::Node& n) {
  int residual = 0;
  if (n.domain.empty()) return ops::fusable_base_op(n.op_type, &residual) ? n.op_type : "";
  return ops::fused_base_op(n);
}

void make_fused(ir::Node& n) {
  if (n.domain == ops::kKilnDomain) return;
  n.op_type = "Fused" + n.op_type;
  n.domain = ops::kKilnDomain;
}

bool has_activation(const ir::Node& n) { return !n.attr_string(ops::kActivationAttr, "").empty(); }

void set_attr(ir::Node& n, const std::string& name, const std::string& v) {
  ir::Attribute a;
  a.kind = ir::Attribute::Kind::String;
  a.s = v;
  n.attributes[name] = a;
}

void set_attr(ir::Node& n, const std::string& name, float v) {
  ir::Attribute a;
  a.kind = ir::Attribute::Kind::Float;
  a.f = v;
  n.attributes[name] = a;
}

void set_attr(ir::Node& n, const std::string& name, int64_t v) {
  ir::Attribute a;
  a.kind = ir::Attribute::Kind::Int;
  a.i = v;
  n.attributes[name] = a;
}

bool all_equal(const std::vector<int64_t>& v, int64_t x) {
  for (int64_t e : v)
    if (e != x) return false;
  return true;
}

bool conv_is_pointwise(const ir::Node& conv, std::string* why, size_t rank) {
  const ir::Value* w = conv.inputs.size() > 1 ? conv.inputs[1] : nullptr;
  if (!w || !w->shape.known || w->shape.rank() < 3) return *why = "its weight shape is not known", false;
  if (rank && w->shape.rank() != rank)
    return *why = "it is not a " + std::to_string(rank - 2) + "-D convolution", false;
  for (size_t i = 2; i < w->shape.rank(); ++i)
    if (w->shape.dims[i] != 1) return *why = "its kernel is not 1×1", false;
  const std::string pad = conv.attr_string("auto_pad", "NOTSET");
  if ((pad != "NOTSET" && pad != "VALID") || !all_equal(conv.attr_ints("pads"), 0))
    return *why = "it is padded", false;
  if (!all_equal(conv.attr_ints("strides"), 1)) return *why = "it is strided", false;
  return true;
}

}  // namespace kiln::passes
