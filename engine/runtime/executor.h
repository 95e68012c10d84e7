// Runs a prepared graph: walks nodes in topological order, calls each op's
// compute, frees every intermediate after its last use. Holds no per-run
// state, so one Executor serves many threads at once.
#pragma once

#include <vector>

#include "ir/graph.h"
#include "ops/op.h"

namespace kiln::runtime {

class Executor {
 public:
  // Outputs above `max_tensor_elements` elements are refused (an Error) when allocated.
  Executor(const ir::Graph& graph, std::vector<const ops::OpSchema*> schemas, int threads,
           uint64_t max_tensor_elements = UINT64_MAX);
  // `inputs` in graph.inputs order, already validated.
  std::vector<Tensor> run(const std::vector<Tensor>& inputs) const;

 private:
  struct Step {
    const ir::Node* node;
    const ops::OpSchema* schema;
    std::vector<int> inputs;    // value ids, -1 for absent
    std::vector<int> outputs;   // value ids, -1 for absent
    std::vector<int> release;   // value ids whose last use is this step
    std::shared_ptr<const ops::OpState> state;  // from the schema's prepare, if any
  };
  const ir::Graph& graph_;
  std::vector<Step> steps_;
  int threads_;
  uint64_t max_tensor_elements_;
};

}  // namespace kiln::runtime
