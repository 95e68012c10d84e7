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

}  // namespace kiln::passes
