// How an operator plugs into kiln: an OpSchema registered by (domain, op_type,
// opset range) with a shape/dtype inference function and a reference compute
// function. Both receive a context that hides how values are stored.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "ir/graph.h"

namespace kiln::ops {

// What inference knows about one input: dtype, a possibly-partial shape, and the
// data when it is constant (an initializer or folded value) — ops such as
// Reshape need the data to know their output shape.
struct ValueInfo {
  DType dtype = DType::Undefined;
  ir::Shape shape;
  const Tensor* constant = nullptr;
};

class InferContext {
 public:
  InferContext(const ir::Node& node, std::vector<ValueInfo> inputs, size_t num_outputs)
      : node_(node), inputs_(std::move(inputs)), outputs_(num_outputs) {}

  const ir::Node& node() const { return node_; }
  size_t num_inputs() const { return inputs_.size(); }
  bool has_input(size_t i) const { return i < inputs_.size() && inputs_[i].dtype != DType::Undefined; }
  const ValueInfo& input(size_t i) const;
  size_t num_outputs() const { return outputs_.size(); }
  void set_output(size_t i, DType dtype, ir::Shape shape);
  const std::vector<ValueInfo>& outputs() const { return outputs_; }

  // An Error prefixed by the node's description.
  [[noreturn]] void fail(const std::string& what) const;

 private:
  const ir::Node& node_;
  std::vector<ValueInfo> inputs_;
  std::vector<ValueInfo> outputs_;
};

// What an op prepares once at session creation (packed weights, parsed
// attributes, the kernel chosen for the inferred shapes) and reads on every
// run. Immutable after prepare: runs on many threads share it.
struct OpState {
  virtual ~OpState() = default;
};

// Memory the executor planned for one output of one node (see
// runtime/memory_plan.h): a slice of the run's arena.
struct PlannedOutput {
  void* data = nullptr;
  size_t bytes = 0;   // capacity; a larger request falls back to the heap
  bool zero = true;   // false for an in-place output: filling it would erase the input it overwrites
  bool taken = false;  // handed out once per run of the node
};

// While alive, allocate_output on this thread, for outputs of `node`, hands
// out the planned slices instead of heap memory. Keyed by node rather than by
// context so that a fused op's inner context (same node) gets them too.
class PlannedOutputScope {
 public:
  PlannedOutputScope(const ir::Node& node, PlannedOutput* outputs, size_t count);
  ~PlannedOutputScope();
  PlannedOutputScope(const PlannedOutputScope&) = delete;
  PlannedOutputScope& operator=(const PlannedOutputScope&) = delete;

 private:
  const ir::Node* node_;
  PlannedOutput* outputs_;
  size_t count_;
  const PlannedOutputScope* previous_;
  friend class ComputeContext;
};

class ComputeContext {
 public:
  ComputeContext(const ir::Node& node, std::vector<const Tensor*> inputs, std::vector<Tensor>& outputs,
                 int threads, const OpState* state = nullptr)
      : node_(node), inputs_(std::move(inputs)), outputs_(outputs), threads_(threads), state_(state) {}

  // The op's prepared state (nullptr when it has no prepare step, or when
  // running outside a session, e.g. during constant folding).
  const OpState* state() const { return state_; }
  // The kernel the op ran, for profiles ("reference" unless an op says otherwise).
  void set_kernel(const char* name) { kernel_ = name; }
  const char* kernel() const { return kernel_; }

  // Fused epilogues (see ops/fused.h). A kiln.Fused<Op> node runs its base op
  // through an inner context carrying the residual tensor; a kernel that
  // applies the node's epilogue itself (in registers) says so, and the
  // wrapper then skips its own pass.
  void set_residual(const Tensor* z) { residual_ = z; }
  const Tensor* residual() const { return residual_; }
  void mark_epilogue_applied() { epilogue_applied_ = true; }
  bool epilogue_applied() const { return epilogue_applied_; }
  // A fused input map (ops/fused.h, kiln.prologue): input 0 is to be read
  // as act(fma(x, scale[c], shift[c])) per channel c, act None or Relu. Only
  // Conv takes one; it applies it itself, always.
  struct InputMap {
    const float* scale = nullptr;
    const float* shift = nullptr;
    bool relu = false;
  };
  void set_input_map(const InputMap* m) { input_map_ = m; }
  const InputMap* input_map() const { return input_map_; }

  const ir::Node& node() const { return node_; }
  size_t num_inputs() const { return inputs_.size(); }
  bool has_input(size_t i) const { return i < inputs_.size() && inputs_[i] != nullptr; }
  // The i-th input; an Error if it is absent.
  const Tensor& input(size_t i) const;
  size_t num_outputs() const { return outputs_.size(); }
  // Whether the graph uses output i (optional outputs may be omitted).
  bool output_wanted(size_t i) const { return node_.has_output(i); }
  // Allocates output i and returns it for writing. Its contents are
  // undefined: the op must write every element. Inside a session the memory
  // is the executor's planned slice; an elementwise op's output may then be
  // the very buffer of its same-shaped input (in place), so such ops must
  // read x[i] before writing y[i]. With the environment variable
  // KILN_POISON_OUTPUTS=1 new outputs are filled with NaN (0xFF bytes) first,
  // so that tests catch an op that leaves elements unwritten.
  Tensor& allocate_output(size_t i, DType dtype, std::vector<int64_t> shape);
  // The same, zero-filled: for ops that accumulate into their output or
  // write only some elements.
  Tensor& allocate_output_zeroed(size_t i, DType dtype, std::vector<int64_t> shape);
  // Outputs above this many elements are refused (SessionOptions::max_tensor_elements).
  void set_max_output_elements(uint64_t n) { max_output_elements_ = n; }
  uint64_t max_output_elements() const { return max_output_elements_; }
  // Sets output i to an existing tensor (e.g. a view sharing an input's storage).
  void set_output(size_t i, Tensor t);
  int threads() const { return threads_; }

  [[noreturn]] void fail(const std::string& what) const;

 private:
  Tensor& allocate(size_t i, DType dtype, std::vector<int64_t> shape, bool zeroed);

  const ir::Node& node_;
  std::vector<const Tensor*> inputs_;
  std::vector<Tensor>& outputs_;
  int threads_;
  const OpState* state_;
  const char* kernel_ = "reference";
  const Tensor* residual_ = nullptr;
  bool epilogue_applied_ = false;
  const InputMap* input_map_ = nullptr;
  uint64_t max_output_elements_ = UINT64_MAX;
};

struct OpSchema {
  std::string domain;  // "" for ai.onnx
  std::string op_type;
  int since_version = 1;  // first opset this implementation covers
  int until_version = 1000;  // last opset it covers (inclusive)
  int min_inputs = 0, max_inputs = 0;
  int min_outputs = 1, max_outputs = 1;
  // Checks attributes and input dtypes and sets output dtypes and (partial)
  // shapes. Runs at load over partial shapes and may run again over concrete ones.
  std::function<void(InferContext&)> infer;
  // Reference computation over concrete tensors.
  std::function<void(ComputeContext&)> compute;
  // Optional: runs once at session creation with the inferred input types and
  // constants (weights); its result is handed to every compute of that node.
  std::function<std::shared_ptr<const OpState>(const InferContext&)> prepare;
  // Optional: floating-point operations of one run, for profiles' GFLOP/s.
  std::function<double(const ir::Node&, const std::vector<const Tensor*>& inputs, const std::vector<Tensor>& outputs)> flops;
};

class OpRegistry {
 public:
  static const OpRegistry& instance();
  void add(OpSchema schema);
  // The schema covering (domain, op_type) at `opset`, or nullptr.
  const OpSchema* find(const std::string& domain, const std::string& op_type, int opset) const;
  // Why find() failed: unknown op, or the opsets that are supported.
  std::string explain_missing(const std::string& domain, const std::string& op_type, int opset) const;
  const std::vector<OpSchema>& all() const { return schemas_; }

 private:
  std::vector<OpSchema> schemas_;
};

// Whether allocate_output fills new outputs with NaN (see there); starts as
// the environment variable KILN_POISON_OUTPUTS says. For tests.
void set_poison_outputs(bool on);

// Normalizes "ai.onnx" to "".
std::string canonical_domain(const std::string& domain);

}  // namespace kiln::ops
