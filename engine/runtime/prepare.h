// From a loaded graph to something runnable: schema lookup, arity checks,
// shape/dtype inference and verification.
#pragma once

#include <vector>

#include "ir/graph.h"
#include "ops/op.h"

namespace kiln::runtime {

// Finalizes the graph, binds every node to its schema (indexed by node id) and
// infers dtypes and shapes of every value. Errors name the node, op and opset.
std::vector<const ops::OpSchema*> prepare_graph(ir::Graph& graph);

// What inference and prepare see of a node's inputs: dtype, (partial) shape
// and the constant, if any; absent inputs stay default.
std::vector<ops::ValueInfo> input_infos(const ir::Node& n);

}  // namespace kiln::runtime
