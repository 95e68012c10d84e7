#include "runtime/batch_split.h"

#include <algorithm>
#include <cstdint>
#include <set>

#include "ops/batchnorm_mode.h"
#include "ops/fused.h"

namespace kiln::runtime {

namespace {

// The largest per-image activation below which a batch runs whole.
constexpr int64_t kMinSplitActivationBytes = int64_t{1} << 20;

// a·b for non-negative sizes, pinned at kSaturated instead of overflowing
// (shapes come from the model file and may be absurd).
constexpr int64_t kSaturated = INT64_MAX;
int64_t saturating_mul(int64_t a, int64_t b) {
  int64_t r;
  return __builtin_mul_overflow(a, b, &r) ? kSaturated : r;
}

bool in(const std::set<std::string>& s, const std::string& op) { return s.count(op) != 0; }

// Ops computing y[i] from the inputs at index i (after broadcasting).
const std::set<std::string> kUnary = {
    "Relu",  "LeakyRelu", "Sigmoid", "Tanh", "HardSigmoid", "HardSwish", "Elu",   "Selu",  "Celu",  "Softplus",
    "Softsign", "Exp",    "Log",     "Sqrt", "Abs",         "Neg",       "Erf",   "Gelu",  "Mish",  "Reciprocal",
    "Floor", "Ceil",      "Round",   "Sign", "Identity",    "Cast",      "Clip",  "Not",   "IsNaN", "IsInf",
    "Sin",   "Cos",       "Tan",     "Asin", "Acos",        "Atan",      "Sinh",  "Cosh",  "Asinh", "Acosh",
    "Atanh", "Dropout",   "ThresholdedRelu", "Shrink"};
const std::set<std::string> kBroadcasting = {
    "Add", "Sub", "Mul", "Div", "Pow", "Max", "Min", "Sum", "Mean", "PRelu", "Equal", "Less", "Greater",
    "LessOrEqual", "GreaterOrEqual", "And", "Or", "Xor", "Mod", "BitShift", "Where"};
// Ops over each (image, channel) plane, or over each image's channels.
const std::set<std::string> kPerImage = {"Conv",          "ConvTranspose",   "AveragePool",   "LpPool",
                                         "GlobalAveragePool", "GlobalMaxPool", "GlobalLpPool", "InstanceNormalization",
                                         "LRN",           "MaxPool",         "BatchNormalization"};
const std::set<std::string> kReduce = {"ReduceMean", "ReduceSum",    "ReduceMax",       "ReduceMin",
                                       "ReduceProd", "ReduceL1",     "ReduceL2",        "ReduceLogSum",
                                       "ReduceLogSumExp", "ReduceSumSquare"};

class Analysis {
 public:
  explicit Analysis(const ir::Graph& g) : g_(g), batched_(g.values().size(), 0) {}

  BatchSplit run() {
    for (const ir::Value* v : g_.inputs) {
      if (!v->shape.known || v->shape.rank() == 0)
        return no("graph input '" + v->name + "' has no batch axis (rank " +
                  (v->shape.known ? "0" : std::string("unknown")) + ")");
      if (v->shape.dims[0] >= 0)
        return no("graph input '" + v->name + "' has a fixed first dimension (" + std::to_string(v->shape.dims[0]) + ")");
      batched_[v->id] = 1;
    }
    for (const ir::Node* n : g_.order()) {
      std::string why = check(*n);
      if (!why.empty()) return no(n->describe() + ": " + why);
      for (const ir::Value* v : n->outputs)
        if (v) batched_[v->id] = 1;
    }
    for (const ir::Value* v : g_.outputs)
      if (!batched_[v->id]) return no("graph output '" + v->name + "' does not carry the batch on its first axis");
    // Splitting pays where one image's activations are large (they then stay
    // in the cache between layers); with small ones (an MLP's rows) the
    // batched kernels' weight reuse wins.
    int64_t largest = 0;
    for (const auto& v : g_.values()) {
      if (!batched_[v->id] || !v->shape.known || v->shape.rank() < 1) continue;
      int64_t n = static_cast<int64_t>(dtype_size(v->dtype));
      for (size_t d = 1; d < v->shape.rank() && n > 0; ++d) n = v->shape.dims[d] < 0 ? 0 : saturating_mul(n, v->shape.dims[d]);
      largest = std::max(largest, n);
    }
    // One image's rows through a Gemm/MatMul use each weight once, so a split
    // run streams those weights once per image; a convolution reuses each
    // weight over the image's positions. Where the row layers' weights
    // outweigh the convolutions' (VGG's 500 MB classifier), splitting loses.
    int64_t conv_weights = 0, row_weights = 0;
    for (const ir::Node* n : g_.order()) {
      const std::string op = base_op(*n);
      if (!n->has_input(1) || !n->inputs[1]->constant) continue;
      const int64_t bytes = static_cast<int64_t>(n->inputs[1]->constant->nbytes());
      if (op == "Conv" || op == "ConvTranspose") conv_weights += bytes;
      else if (op == "Gemm" || op == "MatMul") row_weights += bytes;
    }
    if (row_weights > conv_weights)
      return no("its Gemm/MatMul weights (" + std::to_string(row_weights >> 20) + " MiB) outweigh its convolution weights (" +
                std::to_string(conv_weights >> 20) + " MiB): one image at a time would stream them once per image");
    if (largest < kMinSplitActivationBytes)
      return no("one image's activations are small (largest " + std::to_string(largest) +
                " bytes): the batched kernels are faster");
    return {true, ""};
  }

 private:
  static BatchSplit no(std::string why) { return {false, std::move(why)}; }

  bool batched(const ir::Value* v) const { return v && batched_[v->id]; }
  static bool constant(const ir::Value* v) { return v && v->constant; }
  static int64_t rank(const ir::Value* v) { return v && v->shape.known ? static_cast<int64_t>(v->shape.rank()) : -1; }

  // The constant int64 values of input i, or false.
  static bool const_ints(const ir::Node& n, size_t i, std::vector<int64_t>* out) {
    if (!n.has_input(i) || !n.inputs[i]->constant) return false;
    const Tensor& t = *n.inputs[i]->constant;
    if (t.dtype() != DType::Int64) return false;
    out->assign(t.data_as<int64_t>(), t.data_as<int64_t>() + t.numel());
    return true;
  }

  // Axes given by the `axes` attribute (before opset `input_from`) or by
  // constant input 1; `given` is false when there are none.
  static bool axes_of(const ir::Node& n, int input_from, std::vector<int64_t>* axes, bool* given) {
    *given = false;
    if (n.opset < input_from) {
      if (!n.has_attr("axes")) return true;
      *axes = n.attr_ints("axes");
      *given = true;
      return true;
    }
    if (!n.has_input(1)) return true;
    *given = true;
    return const_ints(n, 1, axes);
  }

  static bool touches_axis0(const std::vector<int64_t>& axes, int64_t r) {
    return std::any_of(axes.begin(), axes.end(), [&](int64_t a) { return a == 0 || (r > 0 && a == -r); });
  }

  // Input 0 (and the residual input of a fused node, when `residual` > 0)
  // must carry the batch; every other input must be a constant.
  std::string roles(const ir::Node& n, size_t residual) const {
    for (size_t i = 0; i < n.inputs.size(); ++i) {
      const ir::Value* v = n.inputs[i];
      if (!v) continue;
      const bool is_data = i == 0 || (residual && i == residual);
      if (is_data && !batched(v)) return "input " + std::to_string(i) + " '" + v->name + "' does not carry the batch";
      if (!is_data && !constant(v)) return "input " + std::to_string(i) + " '" + v->name + "' is computed per run";
    }
    return "";
  }

  std::string unused_outputs_from(const ir::Node& n, size_t first) const {
    for (size_t i = first; i < n.outputs.size(); ++i)
      if (n.outputs[i] && (!n.outputs[i]->consumers.empty() || n.outputs[i]->is_graph_output))
        return "its output " + std::to_string(i) + " is used";
    return "";
  }

  // The op a fused node wraps, or the node's own op.
  static std::string base_op(const ir::Node& n) {
    std::string op = ops::fused_base_op(n);
    return op.empty() ? n.op_type : op;
  }

  std::string check(const ir::Node& n) const {
    const bool fused = !ops::fused_base_op(n).empty();
    if (!n.domain.empty() && !fused) return "ops of domain '" + n.domain + "' are not known to be per-image";
    const std::string op = base_op(n);
    const size_t res = fused ? static_cast<size_t>(n.attr_int(ops::kResidualAttr, 0)) : 0;
    const int64_t out_rank = rank(n.has_output(0) ? n.outputs[0] : nullptr);
    if (res) {
      if (!n.has_input(res)) return "its residual input is missing";
      if (rank(n.inputs[res]) != out_rank || out_rank < 1) return "its residual has another rank than its output";
    }
    std::string why;

    if (in(kUnary, op)) {
      if (op == "Dropout" && !(why = unused_outputs_from(n, 1)).empty()) return why;
      return roles(n, res);
    }
    if (in(kBroadcasting, op)) {
      if (out_rank < 1) return "its output rank is unknown";
      bool any = false;
      for (size_t i = 0; i < n.inputs.size(); ++i) {
        const ir::Value* v = n.inputs[i];
        if (!v) continue;
        if (batched(v)) {
          if (rank(v) != out_rank) return "input '" + v->name + "' broadcasts its batch axis onto another axis";
          any = true;
        } else if (constant(v)) {
          const Tensor& t = *v->constant;
          if (static_cast<int64_t>(t.rank()) == out_rank && t.shape()[0] != 1)
            return "constant input '" + v->name + "' has " + std::to_string(t.shape()[0]) + " entries along the batch axis";
        } else {
          return "input '" + v->name + "' is computed per run without the batch";
        }
      }
      return any ? "" : "no input carries the batch";
    }
    if (in(kPerImage, op)) {
      if (op == "BatchNormalization") {
        if (ops::batchnorm_is_training(n)) return "training mode normalizes over the whole batch";
        if (!(why = unused_outputs_from(n, 1)).empty()) return why;
      }
      if (op == "MaxPool" && !(why = unused_outputs_from(n, 1)).empty())
        return "its indices count across the whole batch";
      return roles(n, res);
    }
    if (op == "Gemm") {
      if (n.attr_int("transA", 0) != 0) return "transA puts the batch on the reduced axis";
      if (rank(n.inputs[0]) != 2) return "its A is not 2-D";
      if (n.has_input(2) && constant(n.inputs[2])) {
        const Tensor& c = *n.inputs[2]->constant;
        if (c.rank() == 2 && c.shape()[0] != 1) return "its C has a row per batch entry";
      }
      return roles(n, res);
    }
    if (op == "MatMul") {
      if (rank(n.inputs[0]) < 2) return "its first input is not a batch of rows";
      if (n.has_input(1) && rank(n.inputs[1]) > 2) return "its second input is batched";
      return roles(n, res);
    }
    if (op == "Concat") {
      if (out_rank < 1) return "its output rank is unknown";
      int64_t axis = n.attr_int("axis", 0);
      if (axis == 0 || axis == -out_rank) return "it concatenates along the batch axis";
      for (size_t i = 0; i < n.inputs.size(); ++i)
        if (!batched(n.inputs[i])) return "input " + std::to_string(i) + " does not carry the batch";
      return "";
    }
    if (op == "Split") {
      int64_t axis = n.attr_int("axis", 0);
      if (axis == 0 || axis == -rank(n.inputs[0])) return "it splits along the batch axis";
      return roles(n, 0);
    }
    if (op == "Flatten") {
      int64_t axis = n.attr_int("axis", 1), r = rank(n.inputs[0]);
      if (r < 1) return "its input rank is unknown";
      if (axis < 0) axis += r;
      if (axis < 1) return "axis 0 merges the batch into the rows";
      return roles(n, 0);
    }
    if (op == "Softmax" || op == "LogSoftmax" || op == "Hardmax") {
      int64_t r = rank(n.inputs[0]);
      if (r < 1) return "its input rank is unknown";
      int64_t axis = n.attr_int("axis", n.opset >= 13 ? -1 : 1);
      if (axis < 0) axis += r;
      if (axis < 1) return "it normalizes across the batch axis";
      return roles(n, 0);
    }
    if (op == "ArgMax" || op == "ArgMin") {
      int64_t r = rank(n.inputs[0]), axis = n.attr_int("axis", 0);
      if (r < 1) return "its input rank is unknown";
      if (axis < 0) axis += r;
      if (axis < 1) return "it reduces the batch axis";
      return roles(n, 0);
    }
    if (op == "Transpose") {
      std::vector<int64_t> perm = n.attr_ints("perm");
      if (perm.empty() || perm[0] != 0) return "it moves the batch axis";
      return roles(n, 0);
    }
    if (in(kReduce, op)) {
      std::vector<int64_t> axes;
      bool given = false;
      const int from = op == "ReduceSum" ? 13 : 18;
      if (!axes_of(n, from, &axes, &given)) return "its axes are computed per run";
      if (!given && n.attr_int("noop_with_empty_axes", 0) == 0) return "it reduces every axis, the batch's included";
      if (touches_axis0(axes, rank(n.inputs[0]))) return "it reduces the batch axis";
      return roles(n, 0);
    }
    if (op == "Squeeze" || op == "Unsqueeze") {
      std::vector<int64_t> axes;
      bool given = false;
      if (!axes_of(n, 13, &axes, &given)) return "its axes are computed per run";
      if (!given) return "without axes it would drop a batch axis of size 1";
      if (touches_axis0(axes, op == "Squeeze" ? rank(n.inputs[0]) : out_rank)) return "it moves the batch axis";
      return roles(n, 0);
    }
    if (op == "Reshape") {
      std::vector<int64_t> shape;
      if (!const_ints(n, 1, &shape)) return "its target shape is computed per run";
      const ir::Value* x = n.inputs[0];
      if (shape.empty()) return "its target shape has no batch axis";
      if (shape[0] == 0 && n.attr_int("allowzero", 0) == 0) return roles(n, 0);
      // -1 first and every other size fixed: the first axis is the batch
      // exactly when the fixed sizes multiply to one image's element count.
      if (shape[0] != -1 || !x->shape.known || x->shape.rank() < 1) return "its target shape does not keep the batch axis";
      int64_t per_image = 1, rest = 1;
      for (size_t d = 1; d < x->shape.rank(); ++d) {
        if (x->shape.dims[d] < 0) return "its input's per-image size is not known";
        per_image = saturating_mul(per_image, x->shape.dims[d]);
      }
      for (size_t d = 1; d < shape.size(); ++d) {
        if (shape[d] <= 0) return "its target shape does not keep the batch axis";
        rest = saturating_mul(rest, shape[d]);
      }
      if (per_image == kSaturated || rest == kSaturated) return "its sizes overflow 64 bits";
      if (rest != per_image) return "its target shape regroups images along the first axis";
      return roles(n, 0);
    }
    if (op == "Pad") {
      if (n.has_input(3)) return "its axes input is not supported for batch splitting";
      std::vector<int64_t> pads = n.opset < 11 ? n.attr_ints("pads") : std::vector<int64_t>{};
      if (n.opset >= 11 && !const_ints(n, 1, &pads)) return "its pads are computed per run";
      const int64_t r = rank(n.inputs[0]);
      if (r < 1 || static_cast<int64_t>(pads.size()) != 2 * r) return "its pads do not match its input's rank";
      if (pads[0] != 0 || pads[static_cast<size_t>(r)] != 0) return "it pads the batch axis";
      return roles(n, 0);
    }
    return "no per-image form is known for " + op;
  }

  const ir::Graph& g_;
  std::vector<char> batched_;
};

}  // namespace

BatchSplit analyze_batch_split(const ir::Graph& graph) { return Analysis(graph).run(); }

}  // namespace kiln::runtime
