#include "runtime/prepare.h"

namespace kiln::runtime {

namespace {

// Merges inferred type information into a value, refusing contradictions with
// what the model declares (value_info, graph outputs).
void merge(const ir::Node& node, size_t index, ir::Value& v, const ops::ValueInfo& inferred) {
  auto where = [&] { return node.describe() + ": output " + std::to_string(index) + " '" + v.name + "'"; };
  if (inferred.dtype == DType::Undefined)
    throw Error(where() + ": shape inference produced no dtype (internal error)");
  if (v.dtype != DType::Undefined && v.dtype != inferred.dtype)
    throw Error(where() + ": the model declares dtype " + dtype_name(v.dtype) + " but the op produces " +
                dtype_name(inferred.dtype));
  v.dtype = inferred.dtype;
  if (!inferred.shape.known) return;
  if (!v.shape.known) {
    v.shape = inferred.shape;
    return;
  }
  if (v.shape.rank() != inferred.shape.rank())
    throw Error(where() + ": the model declares shape " + v.shape.str() + " but the op produces rank " +
                std::to_string(inferred.shape.rank()) + " (" + inferred.shape.str() + ")");
  for (size_t i = 0; i < v.shape.dims.size(); ++i) {
    int64_t a = v.shape.dims[i], b = inferred.shape.dims[i];
    if (a >= 0 && b >= 0 && a != b)
      throw Error(where() + ": the model declares shape " + v.shape.str() + " but the op produces " +
                  inferred.shape.str());
    if (a < 0) v.shape.dims[i] = b;
  }
}

}  // namespace

std::vector<ops::ValueInfo> input_infos(const ir::Node& n) {
  std::vector<ops::ValueInfo> in(n.inputs.size());
  for (size_t i = 0; i < n.inputs.size(); ++i) {
    const ir::Value* v = n.inputs[i];
    if (!v) continue;
    in[i].dtype = v->dtype;
    in[i].shape = v->shape;
    in[i].constant = v->constant ? &*v->constant : nullptr;
  }
  return in;
}

std::vector<const ops::OpSchema*> prepare_graph(ir::Graph& graph) {
  graph.finalize();
  const auto& registry = ops::OpRegistry::instance();
  std::vector<const ops::OpSchema*> schemas(graph.nodes().size(), nullptr);
  for (const ir::Node* n : graph.order()) {
    const ops::OpSchema* s = registry.find(n->domain, n->op_type, n->opset);
    if (!s) throw Error(n->describe() + ": " + registry.explain_missing(n->domain, n->op_type, n->opset));
    int nin = static_cast<int>(n->inputs.size()), nout = static_cast<int>(n->outputs.size());
    if (nin < s->min_inputs || nin > s->max_inputs)
      throw Error(n->describe() + ": has " + std::to_string(nin) + " inputs; expected " +
                  std::to_string(s->min_inputs) + (s->min_inputs == s->max_inputs ? "" : " to " + std::to_string(s->max_inputs)));
    if (nout < s->min_outputs || nout > s->max_outputs)
      throw Error(n->describe() + ": has " + std::to_string(nout) + " outputs; expected " +
                  std::to_string(s->min_outputs) + (s->min_outputs == s->max_outputs ? "" : " to " + std::to_string(s->max_outputs)));
    for (int i = 0; i < s->min_inputs; ++i)
      if (!n->inputs[i]) throw Error(n->describe() + ": required input " + std::to_string(i) + " is empty");
    schemas[n->id] = s;

    for (size_t i = 0; i < n->inputs.size(); ++i)
      if (n->inputs[i] && n->inputs[i]->dtype == DType::Undefined)
        throw Error(n->describe() + ": input " + std::to_string(i) + " '" + n->inputs[i]->name + "' has no known dtype");
    ops::InferContext ctx(*n, input_infos(*n), n->outputs.size());
    s->infer(ctx);
    for (size_t i = 0; i < n->outputs.size(); ++i)
      if (n->outputs[i]) merge(*n, i, *n->outputs[i], ctx.outputs()[i]);
  }
  for (const ir::Value* v : graph.outputs)
    if (!dtype_is_supported(v->dtype))
      throw Error("graph output '" + v->name + "' has dtype " + dtype_name(v->dtype) + ", not supported by kiln");
  return schemas;
}

}  // namespace kiln::runtime
