#include "passes/batchnorm_affine.h"

#include <cmath>

#include "core/tensor_stats.h"
#include "ops/batchnorm_mode.h"

namespace kiln::passes {

const Tensor* constant_f32(const ir::Value* v) {
  if (!v || !v->constant || v->constant->dtype() != DType::Float32) return nullptr;
  return &*v->constant;
}

bool batchnorm_affine(PassContext& ctx, const ir::Node& bn, BatchNormAffine* out, std::string* why_not) {
  if (ops::batchnorm_is_training(bn)) {
    *why_not = "training mode: it normalizes with batch statistics, which are not known before the run";
    return false;
  }
  for (size_t i = 1; i < bn.outputs.size(); ++i)
    if (bn.outputs[i] && (!bn.outputs[i]->consumers.empty() || bn.outputs[i]->is_graph_output)) {
      *why_not = "its running-statistics outputs are used";
      return false;
    }
  if (bn.inputs.size() < 5) {
    *why_not = "it has fewer than 5 inputs";
    return false;
  }
  const char* names[] = {"scale", "B", "mean", "var"};
  const Tensor* p[4];
  for (int i = 0; i < 4; ++i) {
    const ir::Value* v = bn.inputs[i + 1];
    if (!v || !v->constant) {
      *why_not = std::string("its ") + names[i] + " is not a constant";
      return false;
    }
    p[i] = constant_f32(v);
    if (!p[i]) {
      *why_not = std::string("its ") + names[i] + " is " + dtype_name(v->constant->dtype()) + ", not float32";
      return false;
    }
  }
  if (!bn.inputs[0] || bn.inputs[0]->dtype != DType::Float32) {
    *why_not = "its input is not float32";
    return false;
  }
  int64_t c = p[0]->numel();
  for (int i = 0; i < 4; ++i)
    if (p[i]->rank() != 1 || p[i]->numel() != c) {
      *why_not = std::string("its ") + names[i] + " is not a vector of " + std::to_string(c) + " channels";
      return false;
    }
  double eps = bn.attr_float("epsilon", 1e-5f);
  out->channels = c;
  out->s.resize(c);
  out->t.resize(c);
  double max_scale = 0;
  for (int64_t i = 0; i < c; ++i) {
    double gamma = p[0]->data_as<float>()[i], beta = p[1]->data_as<float>()[i];
    double mean = p[2]->data_as<float>()[i], var = p[3]->data_as<float>()[i];
    out->s[i] = gamma / std::sqrt(var + eps);
    out->t[i] = beta - mean * out->s[i];
    max_scale = std::max(max_scale, std::fabs(out->s[i]));
  }
  if (max_scale > 1e4)
    ctx.warn("BatchNormalization '" + bn.name + "': folding scales weights by up to " + std::to_string(max_scale) +
             " (tiny running variance); folded results may lose precision");
  return true;
}

ir::Node* sole_producer(const ir::Node& bn, std::string* why_not) {
  const ir::Value* x = bn.inputs.empty() ? nullptr : bn.inputs[0];
  if (!x || !x->producer) {
    *why_not = "its input is not produced by a node";
    return nullptr;
  }
  if (x->is_graph_output) {
    *why_not = "its input '" + x->name + "' is also a graph output";
    return nullptr;
  }
  if (x->consumers.size() != 1) {
    *why_not = "its input '" + x->name + "' has other readers";
    return nullptr;
  }
  return x->producer;
}

Tensor fold_destination(const ir::Value& v, const ir::Node& user) {
  const Tensor& t = *v.constant;
  const bool sole_reader = v.consumers.size() == 1 && v.consumers[0] == &user && !v.is_graph_output;
  if (sole_reader && detail::storage_is_unique(t)) return t;
  return Tensor::uninitialized(t.dtype(), t.shape());
}

void audit_subnormals(PassContext& ctx, const ir::Node& bn, const Tensor& folded, const char* what) {
  const float* f = folded.data_as<float>();
  int64_t count = 0;
  for (int64_t i = 0; i < folded.numel(); ++i)
    if (std::fpclassify(f[i]) == FP_SUBNORMAL) ++count;
  if (count)
    ctx.warn("BatchNormalization '" + bn.name + "': " + std::to_string(count) + " folded " + what +
             " are subnormal floats (slow on many CPUs, and imprecise)");
}

bool gemm_c_per_column(const Tensor* c, int64_t n) {
  return !c || c->numel() == 1 || (c->rank() == 1 && c->numel() == n) ||
         (c->rank() == 2 && c->shape()[0] == 1 && c->shape()[1] == n);
}

void rewrite_as_gemm(PassContext& ctx, ir::Node* mm, Tensor b, Tensor c) {
  ir::Value* bv = ctx.graph.add_constant(mm->name + ".folded_weight", std::move(b));
  ir::Value* cv = ctx.graph.add_constant(mm->name + ".folded_bias", std::move(c));
  if (mm->op_type != "Gemm") {
    mm->op_type = "Gemm";
    mm->attributes.clear();
  }
  mm->inputs.resize(3);
  mm->inputs[1] = bv;
  mm->inputs[2] = cv;
  ir::Attribute one;
  one.kind = ir::Attribute::Kind::Float;
  one.f = 1.0f;
  mm->attributes["beta"] = one;
  if (mm->opset < 7) {  // Gemm broadcasts C only when asked, before opset 7
    ir::Attribute yes;
    yes.kind = ir::Attribute::Kind::Int;
    yes.i = 1;
    mm->attributes["broadcast"] = yes;
  }
}

void absorb_batchnorm(PassContext& ctx, ir::Node* producer, ir::Node* bn) {
  ir::Value* y = bn->outputs[0];
  producer->outputs[0] = y;
  ctx.graph.remove_node(bn);
}

}  // namespace kiln::passes
