// Runs a prepared graph: walks nodes in topological order and calls each op's
// compute. Intermediates live in one arena per run, laid out by a memory plan
// made per input-shape signature: the first run with new input shapes runs on
// the heap and records every value's size and which outputs are views of an
// input; later runs with those shapes take an arena from the plan's pool and
// allocate no tensors but the graph outputs. One Executor serves many threads
// at once: concurrent runs each hold their own arena.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

#include "ir/graph.h"
#include "kiln/kiln.h"
#include "ops/op.h"

namespace kiln::runtime {

class Executor {
 public:
  // Outputs above `max_tensor_elements` elements are refused (an Error) when allocated.
  Executor(const ir::Graph& graph, std::vector<const ops::OpSchema*> schemas, int threads, bool memory_plan = true,
           uint64_t max_tensor_elements = UINT64_MAX);
  ~Executor();
  // `inputs` in graph.inputs order, already validated. With `profile`, one
  // entry per node is appended (timing costs nothing when it is null).
  std::vector<Tensor> run(const std::vector<Tensor>& inputs, std::vector<NodeProfile>* profile = nullptr) const;

  // Arena buffers allocated so far by all executors of this process (for tests).
  static uint64_t arena_allocations();

 private:
  struct Step {
    const ir::Node* node;
    const ops::OpSchema* schema;
    std::vector<int> inputs;    // value ids, -1 for absent
    std::vector<const Tensor*> constants;  // per input: the model constant, or null (computed per run)
    std::vector<int> outputs;   // value ids, -1 for absent
    std::vector<int> release;   // value ids whose last use is this step
    std::shared_ptr<const ops::OpState> state;  // from the schema's prepare, if any
    bool elementwise = false;   // may write its output over a same-shaped input
  };
  struct Recording;
  struct Plan;
  using Signature = std::vector<std::vector<int64_t>>;

  void prepare_steps();
  std::shared_ptr<Plan> find_plan(const Signature& sig) const;
  std::shared_ptr<Plan> make_plan(const Recording& rec) const;

  const ir::Graph& graph_;
  std::vector<Step> steps_;
  std::vector<int> last_use_;  // per value: last step reading it; steps_.size() for graph outputs
  int threads_;
  bool memory_plan_;
  mutable std::mutex plans_mutex_;
  mutable std::map<Signature, std::shared_ptr<Plan>> plans_;
  uint64_t max_tensor_elements_;
};

}  // namespace kiln::runtime
