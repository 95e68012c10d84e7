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

}  // namespace kiln::runtime
