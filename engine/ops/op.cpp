#include "ops/op.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>

#include "ops/register.h"

namespace kiln::ops {

const ValueInfo& InferContext::input(size_t i) const {
  if (i >= inputs_.size()) fail("missing input " + std::to_string(i));
  return inputs_[i];
}

void InferContext::set_output(size_t i, DType dtype, ir::Shape shape) {
  if (i >= outputs_.size()) return;  // an optional output the node does not name
  outputs_[i].dtype = dtype;
  outputs_[i].shape = std::move(shape);
}

void InferContext::fail(const std::string& what) const { throw Error(node_.describe() + ": " + what); }

const Tensor& ComputeContext::input(size_t i) const {
  if (!has_input(i)) fail("input " + std::to_string(i) + " is required but absent");
  return *inputs_[i];
}

namespace {
thread_local const PlannedOutputScope* t_planned = nullptr;
}  // namespace

PlannedOutputScope::PlannedOutputScope(const ir::Node& node, PlannedOutput* outputs, size_t count)
    : node_(&node), outputs_(outputs), count_(count), previous_(t_planned) {
  t_planned = this;
}

PlannedOutputScope::~PlannedOutputScope() { t_planned = previous_; }

namespace {
std::atomic<bool>& poison_flag() {
  static std::atomic<bool> on = [] {
    const char* v = std::getenv("KILN_POISON_OUTPUTS");
    return v && *v && std::strcmp(v, "0") != 0;
  }();
  return on;
}
bool poison_outputs() { return poison_flag().load(std::memory_order_relaxed); }
}  // namespace

void set_poison_outputs(bool on) { poison_flag().store(on, std::memory_order_relaxed); }

Tensor& ComputeContext::allocate_output(size_t i, DType dtype, std::vector<int64_t> shape) {
  return allocate(i, dtype, std::move(shape), false);
}

Tensor& ComputeContext::allocate_output_zeroed(size_t i, DType dtype, std::vector<int64_t> shape) {
  return allocate(i, dtype, std::move(shape), true);
}

// Planned memory is handed out as it is (ops write every element); with
// poison_outputs() it is first filled with 0xFF bytes (NaN in float32/64, −1 in
// the integers) so that a test run catches an op that leaves elements unwritten.
// Heap memory comes zeroed from Tensor's constructor.
Tensor& ComputeContext::allocate(size_t i, DType dtype, std::vector<int64_t> shape, bool zeroed) {
  if (i >= outputs_.size()) fail("output " + std::to_string(i) + " does not exist");
  // Output sizes may come from data (ConstantOfShape, Expand, Tile, Resize,
  // Pad, …): an absurd one is refused before anything is allocated.
  int64_t n = 0;
  try {
    n = checked_numel(shape);
  } catch (const Error& e) {
    fail("output " + std::to_string(i) + ": " + e.what());
  }
  if (static_cast<uint64_t>(n) > max_output_elements_)
    fail("output " + std::to_string(i) + " would have shape " + shape_to_string(shape) + " (" + std::to_string(n) +
         " elements), above the limit of " + std::to_string(max_output_elements_) + " elements");
  const PlannedOutputScope* scope = t_planned;
  if (scope && scope->node_ == &node_ && i < scope->count_) {
    PlannedOutput& p = scope->outputs_[i];
    // An in-place slot holds the input it overwrites: never filled, so never
    // used for a zeroed output.
    if (p.data && !p.taken && dtype_is_supported(dtype) && (p.zero || !zeroed)) {
      size_t bytes = static_cast<size_t>(checked_numel(shape)) * dtype_size(dtype);
      if (bytes <= p.bytes) {
        p.taken = true;
        if (p.zero && bytes && (zeroed || poison_outputs())) std::memset(p.data, zeroed ? 0 : 0xFF, bytes);
        outputs_[i] = Tensor::wrap(dtype, std::move(shape), p.data);
        return outputs_[i];
      }
    }
  }
  outputs_[i] = Tensor(dtype, std::move(shape));
  if (!zeroed && poison_outputs() && outputs_[i].nbytes()) std::memset(outputs_[i].data(), 0xFF, outputs_[i].nbytes());
  return outputs_[i];
}

void ComputeContext::set_output(size_t i, Tensor t) {
  if (i >= outputs_.size()) fail("output " + std::to_string(i) + " does not exist");
  outputs_[i] = std::move(t);
}

void ComputeContext::fail(const std::string& what) const { throw Error(node_.describe() + ": " + what); }

std::string canonical_domain(const std::string& domain) { return domain == "ai.onnx" ? "" : domain; }

const OpRegistry& OpRegistry::instance() {
  static const OpRegistry registry = [] {
    OpRegistry r;
    register_all_ops(r);
    return r;
  }();
  return registry;
}

void OpRegistry::add(OpSchema schema) {
  schema.domain = canonical_domain(schema.domain);
  schemas_.push_back(std::move(schema));
}

const OpSchema* OpRegistry::find(const std::string& domain, const std::string& op_type, int opset) const {
  std::string d = canonical_domain(domain);
  for (const OpSchema& s : schemas_)
    if (s.domain == d && s.op_type == op_type && opset >= s.since_version && opset <= s.until_version) return &s;
  return nullptr;
}

std::string OpRegistry::explain_missing(const std::string& domain, const std::string& op_type, int opset) const {
  std::string d = canonical_domain(domain);
  std::string ranges;
  for (const OpSchema& s : schemas_) {
    if (s.domain != d || s.op_type != op_type) continue;
    if (!ranges.empty()) ranges += ", ";
    ranges += std::to_string(s.since_version) + "-" + std::to_string(s.until_version);
  }
  std::string name = (d.empty() ? "" : d + ".") + op_type;
  if (ranges.empty()) return "operator " + name + " is not supported by kiln";
  return "operator " + name + " at opset " + std::to_string(opset) + " is not supported by kiln (supported opsets: " +
         ranges + ")";
}

}  // namespace kiln::ops
