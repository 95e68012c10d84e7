#include "runtime/executor.h"

namespace kiln::runtime {

Executor::Executor(const ir::Graph& graph, std::vector<const ops::OpSchema*> schemas, int threads,
                   uint64_t max_tensor_elements)
    : graph_(graph), threads_(threads), max_tensor_elements_(max_tensor_elements) {
  std::vector<int> last_use(graph.values().size(), -1);
  for (const ir::Node* n : graph.order()) {
    Step s{n, schemas[n->id], {}, {}, {}, nullptr};
    if (s.schema->prepare) {
      std::vector<ops::ValueInfo> in(n->inputs.size());
      for (size_t i = 0; i < n->inputs.size(); ++i) {
        const ir::Value* v = n->inputs[i];
        if (!v) continue;
        in[i].dtype = v->dtype;
        in[i].shape = v->shape;
        in[i].constant = v->constant ? &*v->constant : nullptr;
      }
      ops::InferContext ictx(*n, std::move(in), n->outputs.size());
      s.state = s.schema->prepare(ictx);
    }
    for (const ir::Value* v : n->inputs) s.inputs.push_back(v ? v->id : -1);
    for (const ir::Value* v : n->outputs) s.outputs.push_back(v ? v->id : -1);
    for (const ir::Value* v : n->inputs)
      if (v) last_use[v->id] = static_cast<int>(steps_.size());
    for (const ir::Value* v : n->outputs)
      if (v && last_use[v->id] < 0) last_use[v->id] = static_cast<int>(steps_.size());  // unused outputs die at once
    steps_.push_back(std::move(s));
  }
  for (const ir::Value* v : graph.outputs) last_use[v->id] = -1;  // graph outputs live to the end
  for (const auto& v : graph.values())
    if (last_use[v->id] >= 0 && !v->constant && !v->is_graph_input) steps_[last_use[v->id]].release.push_back(v->id);
}

std::vector<Tensor> Executor::run(const std::vector<Tensor>& inputs) const {
  std::vector<Tensor> slots(graph_.values().size());
  for (size_t i = 0; i < graph_.inputs.size(); ++i) slots[graph_.inputs[i]->id] = inputs[i];

  auto value_tensor = [&](int id) -> const Tensor* {
    const ir::Value* v = graph_.values()[id].get();
    if (v->constant) return &*v->constant;
    return &slots[id];
  };

  std::vector<Tensor> outs;
  for (const Step& s : steps_) {
    std::vector<const Tensor*> in(s.inputs.size(), nullptr);
    for (size_t i = 0; i < s.inputs.size(); ++i)
      if (s.inputs[i] >= 0) in[i] = value_tensor(s.inputs[i]);
    outs.assign(s.outputs.size(), Tensor());
    ops::ComputeContext ctx(*s.node, std::move(in), outs, threads_, s.state.get());
    ctx.set_max_output_elements(max_tensor_elements_);
    s.schema->compute(ctx);
    for (size_t i = 0; i < s.outputs.size(); ++i) {
      if (s.outputs[i] < 0) continue;
      const ir::Value* v = graph_.values()[s.outputs[i]].get();
      Tensor& t = outs[i];
      if (t.empty()) throw Error(s.node->describe() + ": produced no tensor for output '" + v->name + "' (internal error)");
      // Cheap consistency checks between inference and computation: a
      // mismatch is a kiln bug and must not pass silently.
      if (t.dtype() != v->dtype)
        throw Error(s.node->describe() + ": output '" + v->name + "' computed as " + dtype_name(t.dtype()) +
                    " but inferred as " + dtype_name(v->dtype) + " (internal error)");
      if (v->shape.known) {
        bool ok = v->shape.rank() == t.rank();
        for (size_t d = 0; ok && d < t.rank(); ++d) ok = v->shape.dims[d] < 0 || v->shape.dims[d] == t.shape()[d];
        if (!ok)
          throw Error(s.node->describe() + ": output '" + v->name + "' computed with shape " +
                      shape_to_string(t.shape()) + " but the graph says " + v->shape.str());
      }
      slots[s.outputs[i]] = std::move(t);
    }
    for (int id : s.release) slots[id] = Tensor();
  }

  std::vector<Tensor> result;
  result.reserve(graph_.outputs.size());
  // A graph output that is a model constant or a graph input would otherwise
  // share storage with it: the caller could write into the model or its own
  // input through the output. Those are copied.
  for (const ir::Value* v : graph_.outputs) {
    const Tensor& t = *value_tensor(v->id);
    result.push_back(v->constant || v->is_graph_input ? t.clone() : t);
  }
  return result;
}

}  // namespace kiln::runtime
