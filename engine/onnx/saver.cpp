#include "onnx/saver.h"

#include <fstream>
#include <set>

#include <onnx/onnx_pb.h>

#include "onnx/tensor_proto.h"
#include "ops/batchnorm_mode.h"
#include "ops/fused.h"

namespace kiln::onnx_import {

namespace {

class Writer {
 public:
  explicit Writer(const ir::Graph& g) : g_(g) {}

  std::string run() {
    model_.set_ir_version(8);
    model_.set_producer_name("kiln");
    model_.set_producer_version("optimized");
    for (const auto& [domain, version] : g_.opsets) {
      if (domain == ops::kKilnDomain) continue;
      auto* op = model_.add_opset_import();
      op->set_domain(domain);
      op->set_version(version);
    }
    opset_ = g_.opsets.count("") ? g_.opsets.at("") : 13;
    auto* graph = model_.mutable_graph();
    graph->set_name(g_.name.empty() ? "kiln_optimized" : g_.name);
    for (const ir::Value* v : g_.inputs) write_value_info(*v, graph->add_input());
    for (const ir::Value* v : g_.outputs) write_value_info(*v, graph->add_output());
    for (const auto& v : g_.values())
      if (v->constant) tensor_to_proto(*v->constant, v->name, graph->add_initializer());
    for (const ir::Node* n : g_.order()) write_node(*n);
    return model_.SerializeAsString();
  }

 private:
  void write_value_info(const ir::Value& v, onnx::ValueInfoProto* vi) {
    vi->set_name(v.name);
    auto* tt = vi->mutable_type()->mutable_tensor_type();
    tt->set_elem_type(static_cast<int32_t>(v.dtype));
    if (!v.shape.known) return;
    auto* shape = tt->mutable_shape();
    for (size_t i = 0; i < v.shape.dims.size(); ++i) {
      auto* d = shape->add_dim();
      if (v.shape.dims[i] >= 0) d->set_dim_value(v.shape.dims[i]);
      else if (i < v.dim_names.size() && !v.dim_names[i].empty()) d->set_dim_param(v.dim_names[i]);
    }
  }

  static void write_attribute(const std::string& name, const ir::Attribute& a, onnx::NodeProto* n) {
    auto* p = n->add_attribute();
    p->set_name(name);
    using K = ir::Attribute::Kind;
    switch (a.kind) {
      case K::Float: p->set_type(onnx::AttributeProto::FLOAT); p->set_f(a.f); break;
      case K::Int: p->set_type(onnx::AttributeProto::INT); p->set_i(a.i); break;
      case K::String: p->set_type(onnx::AttributeProto::STRING); p->set_s(a.s); break;
      case K::Tensor: p->set_type(onnx::AttributeProto::TENSOR); tensor_to_proto(a.t, "", p->mutable_t()); break;
      case K::Floats: p->set_type(onnx::AttributeProto::FLOATS); for (float f : a.floats) p->add_floats(f); break;
      case K::Ints: p->set_type(onnx::AttributeProto::INTS); for (int64_t i : a.ints) p->add_ints(i); break;
      case K::Strings: p->set_type(onnx::AttributeProto::STRINGS); for (const auto& s : a.strings) p->add_strings(s); break;
      case K::Tensors:
        p->set_type(onnx::AttributeProto::TENSORS);
        for (const auto& t : a.tensors) tensor_to_proto(t, "", p->add_tensors());
        break;
      default: throw Error("node '" + n->name() + "': attribute '" + name + "' cannot be saved");
    }
  }

  onnx::NodeProto* add_node(const std::string& op, const std::string& name, std::vector<std::string> ins,
                            std::vector<std::string> outs) {
    auto* n = model_.mutable_graph()->add_node();
    n->set_op_type(op);
    n->set_name(name);
    for (auto& i : ins) n->add_input(i);
    for (auto& o : outs) n->add_output(o);
    return n;
  }

  std::string fresh(const std::string& hint) {
    std::string name = g_.unique_name(hint);
    while (!used_.insert(name).second) name = g_.unique_name(hint + "_" + std::to_string(++counter_));
    return name;
  }

  std::string scalar_initializer(const std::string& hint, float v) {
    Tensor t(DType::Float32, {});
    *t.data_as<float>() = v;
    std::string name = fresh(hint);
    tensor_to_proto(t, name, model_.mutable_graph()->add_initializer());
    return name;
  }

  void write_node(const ir::Node& n) {
    auto name_of = [](const ir::Value* v) { return v ? v->name : std::string(); };
    std::string op = ops::fused_base_op(n);
    const bool fused = !op.empty();
    if (!fused) op = n.op_type;
    size_t residual = static_cast<size_t>(n.attr_int(ops::kResidualAttr, 0));
    std::string activation = n.attr_string(ops::kActivationAttr, "");

    // An input map (ops/fused.h) is written as the BatchNormalization it came
    // from, in its own terms: scale, shift, mean 0, variance 1, epsilon 0
    // (s·x + t exactly as kiln runs it), then the Relu.
    const std::string map = fused ? n.attr_string(ops::kPrologueAttr, "") : "";
    const size_t inputs_end = map.empty() ? n.inputs.size() : std::min<size_t>(n.inputs.size(), 4);
    std::vector<std::string> ins;
    for (size_t i = 0; i < inputs_end; ++i)
      if (!(fused && residual && i == residual)) ins.push_back(name_of(n.inputs[i]));
    while (!ins.empty() && ins.back().empty()) ins.pop_back();
    if (!map.empty()) {
      if (n.inputs.size() < 6 || !n.inputs[4] || !n.inputs[5] || ins.empty())
        throw Error(n.describe() + ": its input map has no scale and shift");
      const int64_t c = n.inputs[4]->shape.known && n.inputs[4]->shape.rank() == 1 ? n.inputs[4]->shape.dims[0] : -1;
      if (c < 0) throw Error(n.describe() + ": its input map's channel count is not known");
      auto filled = [&](const std::string& hint, float v) {
        Tensor t(DType::Float32, {c});
        for (int64_t i = 0; i < c; ++i) t.data_as<float>()[i] = v;
        std::string name = fresh(hint);
        tensor_to_proto(t, name, model_.mutable_graph()->add_initializer());
        return name;
      };
      const std::string mapped = fresh(n.name + ".input_map");
      const std::string bn_out = map == "Relu" ? fresh(n.name + ".input_affine") : mapped;
      auto* bn = add_node("BatchNormalization", n.name + ".input_bn",
                          {ins[0], name_of(n.inputs[4]), name_of(n.inputs[5]), filled(n.name + ".input_mean", 0.f),
                           filled(n.name + ".input_var", 1.f)},
                          {bn_out});
      ir::Attribute eps;
      eps.kind = ir::Attribute::Kind::Float;
      eps.f = 0.f;
      write_attribute("epsilon", eps, bn);
      if (map == "Relu") add_node("Relu", n.name + ".input_relu", {bn_out}, {mapped});
      ins[0] = mapped;
    }
    std::vector<std::string> outs;
    for (const ir::Value* v : n.outputs) outs.push_back(name_of(v));
    std::string final_out = outs.empty() ? "" : outs[0];
    bool has_epilogue = fused && (residual || !activation.empty());
    std::string cur = has_epilogue ? fresh(n.name + ".pre_epilogue") : final_out;
    if (!outs.empty()) outs[0] = cur;

    auto* base = add_node(op, n.name, ins, outs);
    if (!n.domain.empty() && !fused) base->set_domain(n.domain);
    for (const auto& [key, a] : n.attributes) {
      if (key.rfind("kiln.", 0) == 0) continue;
      write_attribute(key, a, base);
    }
    if (op == "BatchNormalization" && n.has_attr(ops::kBatchNormModeAttr) && n.opset >= 14) {
      auto* p = base->add_attribute();
      p->set_name("training_mode");
      p->set_type(onnx::AttributeProto::INT);
      p->set_i(ops::batchnorm_is_training(n) ? 1 : 0);
      for (int i = 0; i < base->attribute_size() - 1; ++i)
        if (base->attribute(i).name() == "training_mode") {
          base->mutable_attribute()->DeleteSubrange(i, 1);
          break;
        }
    }
    if (!has_epilogue) return;

    if (residual) {
      std::string next = activation.empty() ? final_out : fresh(n.name + ".residual");
      add_node("Add", n.name + ".residual_add", {cur, name_of(n.inputs[residual])}, {next});
      cur = next;
    }
    if (activation.empty()) return;
    float alpha = n.attr_float(ops::kActivationAlphaAttr, 0.f), beta = n.attr_float(ops::kActivationBetaAttr, 0.f);
    std::string act_name = n.name + "." + activation;
    if (activation == "SiLU") {
      std::string sig = fresh(n.name + ".sigmoid");
      add_node("Sigmoid", act_name + "_sigmoid", {cur}, {sig});
      add_node("Mul", act_name + "_mul", {cur, sig}, {final_out});
    } else if (activation == "Clip") {
      if (opset_ >= 11) {
        add_node("Clip", act_name, {cur, scalar_initializer(n.name + ".clip_min", alpha),
                                    scalar_initializer(n.name + ".clip_max", beta)}, {final_out});
      } else {
        auto* c = add_node("Clip", act_name, {cur}, {final_out});
        ir::Attribute lo, hi;
        lo.kind = hi.kind = ir::Attribute::Kind::Float;
        lo.f = alpha;
        hi.f = beta;
        write_attribute("min", lo, c);
        write_attribute("max", hi, c);
      }
    } else {
      auto* a = add_node(activation, act_name, {cur}, {final_out});
      ir::Attribute f;
      f.kind = ir::Attribute::Kind::Float;
      if (activation == "LeakyRelu") {
        f.f = alpha;
        write_attribute("alpha", f, a);
      } else if (activation == "HardSigmoid") {
        f.f = alpha;
        write_attribute("alpha", f, a);
        f.f = beta;
        write_attribute("beta", f, a);
      }
    }
  }

  const ir::Graph& g_;
  onnx::ModelProto model_;
  int opset_ = 13;
  std::set<std::string> used_;
  int counter_ = 0;
};

}  // namespace

std::string serialize_model(const ir::Graph& graph) { return Writer(graph).run(); }

void save_model(const ir::Graph& graph, const std::string& path) {
  std::string bytes = serialize_model(graph);
  std::ofstream f(path, std::ios::binary);
  if (!f || !f.write(bytes.data(), static_cast<std::streamsize>(bytes.size())))
    throw Error(path + ": cannot write the optimized model");
}

}  // namespace kiln::onnx_import
