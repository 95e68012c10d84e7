#include "runtime/batch_split.h"

#include <algorithm>
#include <cstdint>
#include <exception>
#include <limits>
#include <memory>
#include <set>

#include "ops/batchnorm_mode.h"
#include "ops/fused.h"
#include "ops/op.h"
#include "runtime/prepare.h"

namespace kiln::runtime {

namespace {

// The largest per-image activation below which a batch runs whole. With one
// thread a split gains only the cache (one image's activations staying in L2
// from layer to layer) and loses the batched kernels' larger GEMMs and pays
// every node's dispatch once per image, so it asks for more: ShuffleNet-v2
// (largest 1.2 MB, 560 nodes) measured 25 % slower split on one thread and
// 30 % faster split on two, where each thread takes whole images.
constexpr int64_t kMinSplitActivationBytes = int64_t{1} << 20;
constexpr int64_t kMinSplitActivationBytesOneThread = int64_t{2} << 20;

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

// Shape arithmetic: small int64 values computed from Shape (ShuffleNet's
// channel shuffle reshapes to [N, groups, C / groups, H, W] with N read off
// the input). The analysis follows them entry by entry: each entry is a
// number fixed by the model, the batch size, or something else computed per
// run; a Reshape or Slice may then use such a value where the number it
// needs there is fixed, or (a Reshape's first size) the batch size.
constexpr int64_t kBatchEntry = std::numeric_limits<int64_t>::min();
constexpr int64_t kRunEntry = std::numeric_limits<int64_t>::min() + 1;

bool fixed_entry(int64_t e) { return e != kBatchEntry && e != kRunEntry; }

struct ShapeValue {
  int rank = 1;  // 0 (a scalar) or 1
  std::vector<int64_t> entries;
};

class Analysis {
 public:
  Analysis(const ir::Graph& g, int threads)
      : g_(g), threads_(threads), batched_(g.values().size(), 0), shape_values_(g.values().size()), tracked_(g.values().size(), 0) {
    shapes_.resize(g.values().size());
    for (const auto& v : g.values()) shapes_[v->id] = v->shape;
  }

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
      bool shape_node = false;
      std::string why = track(*n, &shape_node);
      if (!shape_node) why = check(*n);
      if (!why.empty()) return no(n->describe() + ": " + why);
      if (shape_node) continue;
      for (const ir::Value* v : n->outputs)
        if (v) batched_[v->id] = 1;
      refine_shapes(*n);
    }
    for (const ir::Value* v : g_.outputs)
      if (!batched_[v->id]) return no("graph output '" + v->name + "' does not carry the batch on its first axis");
    // Splitting pays where one image's activations are large (they then stay
    // in the cache between layers); with small ones (an MLP's rows) the
    // batched kernels' weight reuse wins.
    int64_t largest = 0;
    for (const auto& v : g_.values()) {
      const ir::Shape& shape = shapes_[v->id];
      if (!batched_[v->id] || !shape.known || shape.rank() < 1) continue;
      int64_t n = static_cast<int64_t>(dtype_size(v->dtype));
      for (size_t d = 1; d < shape.rank() && n > 0; ++d) n = shape.dims[d] < 0 ? 0 : saturating_mul(n, shape.dims[d]);
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
    if (threads_ == 1 && largest < kMinSplitActivationBytesOneThread)
      return no("on one thread, one image's activations are too small to gain from the cache (largest " +
                std::to_string(largest) + " bytes): the batched kernels are faster");
    return {true, ""};
  }

 private:
  static BatchSplit no(std::string why) { return {false, std::move(why)}; }

  bool batched(const ir::Value* v) const { return v && batched_[v->id]; }
  static bool constant(const ir::Value* v) { return v && v->constant; }
  int64_t rank(const ir::Value* v) const {
    return v && shapes_[v->id].known ? static_cast<int64_t>(shapes_[v->id].rank()) : -1;
  }

  // The graph's shape inference ran with the batch size unknown, so a value
  // computed with a shape read off the batch (a Reshape to [N, -1, H, W])
  // and everything after it lost its per-image sizes. They are recovered
  // here, node by node, as the analysis passes them, by running the op's
  // inference again for one image: batched inputs with a first size of 1,
  // tracked shape values as constants with the batch size 1. The outputs'
  // first size goes back to free.
  void refine_shapes(const ir::Node& n) {
    auto per_image_known = [&](const ir::Value* v) {
      const ir::Shape& s = shapes_[v->id];
      return s.known && std::all_of(s.dims.begin() + (s.rank() > 0 ? 1 : 0), s.dims.end(), [](int64_t d) { return d >= 0; });
    };
    bool needed = false;
    for (const ir::Value* v : n.outputs) needed = needed || (v && !per_image_known(v));
    if (!needed) return;
    const ops::OpSchema* schema = ops::OpRegistry::instance().find(n.domain, n.op_type, n.opset);
    if (!schema || !schema->infer) return;
    std::vector<ops::ValueInfo> in = input_infos(n);
    for (size_t i = 0; i < n.inputs.size(); ++i) {
      const ir::Value* v = n.inputs[i];
      if (!v) continue;
      in[i].shape = shapes_[v->id];
      if (batched(v) && in[i].shape.known && in[i].shape.rank() > 0) in[i].shape.dims[0] = 1;
      if (!tracked_[v->id]) continue;
      ShapeValue one = shape_values_[v->id];
      for (int64_t& e : one.entries)
        if (e == kBatchEntry) e = 1;
      if (!all_fixed(one)) continue;
      std::vector<int64_t> dims;
      if (one.rank == 1) dims.push_back(static_cast<int64_t>(one.entries.size()));
      auto t = std::make_unique<Tensor>(Tensor::uninitialized(DType::Int64, dims));
      std::copy(one.entries.begin(), one.entries.end(), t->data_as<int64_t>());
      in[i].constant = t.get();
      folded_.push_back(std::move(t));
    }
    try {
      ops::InferContext ctx(n, std::move(in), n.outputs.size());
      schema->infer(ctx);
      for (size_t i = 0; i < n.outputs.size(); ++i) {
        ir::Shape out = ctx.outputs()[i].shape;
        if (!n.outputs[i] || per_image_known(n.outputs[i]) || !out.known || out.rank() == 0) continue;
        out.dims[0] = -1;
        shapes_[n.outputs[i]->id] = std::move(out);
      }
    } catch (const std::exception&) {
      // Keep the graph's shape: the run reports what is wrong.
    }
  }

  // The entries of a constant int64/int32 tensor of rank <= 1, or false.
  static bool constant_entries(const ir::Value* v, ShapeValue* out) {
    if (!v || !v->constant || v->constant->rank() > 1) return false;
    const Tensor& t = *v->constant;
    out->rank = static_cast<int>(t.rank());
    out->entries.clear();
    if (t.dtype() == DType::Int64) out->entries.assign(t.data_as<int64_t>(), t.data_as<int64_t>() + t.numel());
    else if (t.dtype() == DType::Int32) out->entries.assign(t.data_as<int32_t>(), t.data_as<int32_t>() + t.numel());
    else return false;
    return true;
  }

  // The constant values of input i, or false.
  static bool const_ints(const ir::Node& n, size_t i, std::vector<int64_t>* out) {
    ShapeValue v;
    if (!n.has_input(i) || !constant_entries(n.inputs[i], &v)) return false;
    *out = std::move(v.entries);
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

  // The entries of a constant int64/int32 tensor of rank <= 1, or of a
  // tracked shape value; false for anything else.
  bool ints_of(const ir::Value* v, ShapeValue* out) const {
    if (v && tracked_[v->id]) {
      *out = shape_values_[v->id];
      return true;
    }
    return constant_entries(v, out);
  }

  static bool all_fixed(const ShapeValue& v) { return std::all_of(v.entries.begin(), v.entries.end(), fixed_entry); }

  // A node computing shape arithmetic: a Shape of a batched value, or a node
  // none of whose inputs is batched and one of whose inputs is a tracked
  // shape value. Sets *shape_node for those and computes their output
  // (returning why not where the op is not one followed here).
  std::string track(const ir::Node& n, bool* shape_node) {
    *shape_node = false;
    if (!n.domain.empty() || n.outputs.size() != 1 || !n.outputs[0]) return "";
    const std::string& op = n.op_type;
    if (op == "Shape") {
      if (!batched(n.has_input(0) ? n.inputs[0] : nullptr)) return "";
    } else {
      bool any_tracked = false;
      for (const ir::Value* v : n.inputs) {
        if (batched(v)) return "";
        any_tracked = any_tracked || (v && tracked_[v->id]);
      }
      if (!any_tracked) return "";
    }
    *shape_node = true;
    ShapeValue out;
    std::string why = evaluate(n, &out);
    if (!why.empty()) return why;
    shape_values_[n.outputs[0]->id] = std::move(out);
    tracked_[n.outputs[0]->id] = 1;
    return "";
  }

  std::string evaluate(const ir::Node& n, ShapeValue* out) const {
    const std::string& op = n.op_type;
    if (op == "Shape") {
      const ir::Value* x = n.inputs[0];
      const int64_t r = rank(x);
      if (r < 1) return "the rank of its input is unknown";
      int64_t start = n.attr_int("start", 0), end = n.attr_int("end", r);
      if (start < 0) start += r;
      if (end < 0) end += r;
      start = std::clamp<int64_t>(start, 0, r);
      end = std::clamp<int64_t>(end, 0, r);
      for (int64_t d = start; d < end; ++d) {
        const int64_t size = shapes_[x->id].dims[static_cast<size_t>(d)];
        out->entries.push_back(d == 0 ? kBatchEntry : size >= 0 ? size : kRunEntry);
      }
      return "";
    }
    ShapeValue a, b;
    if (op == "Identity" || op == "Cast") {
      if (op == "Cast") {
        const int64_t to = n.attr_int("to", 0);
        if (to != 6 && to != 7) return "it casts shape values to a non-integer type";  // INT32, INT64
      }
      if (!ints_of(n.inputs[0], out)) return "its input is not a shape value";
      return "";
    }
    if (op == "Gather") {
      if (!ints_of(n.inputs[0], &a) || a.rank != 1) return "it gathers from something other than a shape value";
      if (n.attr_int("axis", 0) != 0) return "its axis is not 0";
      if (!n.has_input(1) || !ints_of(n.inputs[1], &b) || !all_fixed(b)) return "its indices are computed per run";
      out->rank = b.rank;
      const int64_t len = static_cast<int64_t>(a.entries.size());
      for (int64_t i : b.entries) {
        if (i < -len || i >= len) return "its index " + std::to_string(i) + " is out of range";
        out->entries.push_back(a.entries[static_cast<size_t>(i < 0 ? i + len : i)]);
      }
      return "";
    }
    if (op == "Unsqueeze" || op == "Squeeze") {
      std::vector<int64_t> axes;
      bool given = false;
      if (!axes_of(n, 13, &axes, &given)) return "its axes are computed per run";
      if (!ints_of(n.inputs[0], &a)) return "its input is not a shape value";
      if (op == "Unsqueeze") {
        if (a.rank != 0 || axes.size() != 1 || (axes[0] != 0 && axes[0] != -1)) return "it makes more than a vector";
        *out = a;
        out->rank = 1;
      } else {
        if (a.rank != 1 || a.entries.size() != 1 || (given && (axes.size() != 1 || (axes[0] != 0 && axes[0] != -1))))
          return "it is not a one-entry vector to a scalar";
        *out = a;
        out->rank = 0;
      }
      return "";
    }
    if (op == "Concat") {
      if (n.attr_int("axis", 0) != 0 && n.attr_int("axis", 0) != -1) return "its axis is not 0";
      for (const ir::Value* v : n.inputs) {
        if (!ints_of(v, &a) || a.rank != 1) return "input '" + (v ? v->name : std::string()) + "' is not a shape vector";
        out->entries.insert(out->entries.end(), a.entries.begin(), a.entries.end());
      }
      return "";
    }
    if (op == "Add" || op == "Sub" || op == "Mul" || op == "Div") {
      if (n.inputs.size() != 2 || !ints_of(n.inputs[0], &a) || !ints_of(n.inputs[1], &b))
        return "an input is not a shape value";
      const size_t na = a.entries.size(), nb = b.entries.size();
      if (na != nb && na != 1 && nb != 1) return "its inputs do not broadcast";
      out->rank = std::max(a.rank, b.rank);
      for (size_t i = 0; i < std::max(na, nb); ++i) {
        const int64_t x = a.entries[na == 1 ? 0 : i], y = b.entries[nb == 1 ? 0 : i];
        int64_t r = kRunEntry;
        if (fixed_entry(x) && fixed_entry(y)) {
          bool overflow = false;
          if (op == "Add") overflow = __builtin_add_overflow(x, y, &r);
          else if (op == "Sub") overflow = __builtin_sub_overflow(x, y, &r);
          else if (op == "Mul") overflow = __builtin_mul_overflow(x, y, &r);
          else if (y == 0 || (x == std::numeric_limits<int64_t>::min() && y == -1)) overflow = true;
          else r = x / y;  // int64 Div truncates, as C++ does
          if (overflow || !fixed_entry(r)) r = kRunEntry;
        }
        out->entries.push_back(r);
      }
      return "";
    }
    return "no per-image form is known for " + op + " on shape values";
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
      ShapeValue target;
      if (!n.has_input(1) || !ints_of(n.inputs[1], &target)) return "its target shape is computed per run";
      const std::vector<int64_t>& shape = target.entries;
      const ir::Value* x = n.inputs[0];
      if (!batched(x)) return "input 0 '" + x->name + "' does not carry the batch";
      if (shape.empty()) return "its target shape has no batch axis";
      if (!std::all_of(shape.begin() + 1, shape.end(), fixed_entry))
        return "its target shape has sizes computed per run past the first";
      // The first size read off the input's batch, or 0 copying it.
      if (shape[0] == kBatchEntry || (shape[0] == 0 && n.attr_int("allowzero", 0) == 0)) return "";
      if (shape[0] == kRunEntry) return "its target shape's first size is computed per run";
      // -1 first and every other size fixed: the first axis is the batch
      // exactly when the fixed sizes multiply to one image's element count.
      const ir::Shape& xs = shapes_[x->id];
      if (shape[0] != -1 || !xs.known || xs.rank() < 1) return "its target shape does not keep the batch axis";
      int64_t per_image = 1, rest = 1;
      for (size_t d = 1; d < xs.rank(); ++d) {
        if (xs.dims[d] < 0) return "its input's per-image size is not known";
        per_image = saturating_mul(per_image, xs.dims[d]);
      }
      for (size_t d = 1; d < shape.size(); ++d) {
        if (shape[d] <= 0) return "its target shape does not keep the batch axis";
        rest = saturating_mul(rest, shape[d]);
      }
      if (per_image == kSaturated || rest == kSaturated) return "its sizes overflow 64 bits";
      if (rest != per_image) return "its target shape regroups images along the first axis";
      return "";
    }
    if (op == "Slice") {
      const ir::Value* x = n.inputs[0];
      const int64_t r = rank(x);
      if (!batched(x)) return "input 0 '" + x->name + "' does not carry the batch";
      if (r < 1) return "its input rank is unknown";
      ShapeValue starts, ends, axes, steps;
      if (n.opset < 10) {
        starts.entries = n.attr_ints("starts");
        ends.entries = n.attr_ints("ends");
        axes.entries = n.attr_ints("axes");
      } else {
        if (!ints_of(n.inputs[1], &starts) || !n.has_input(2) || !ints_of(n.inputs[2], &ends))
          return "its starts or ends are computed per run";
        if (n.has_input(3) && !ints_of(n.inputs[3], &axes)) return "its axes are computed per run";
        if (n.has_input(4) && !ints_of(n.inputs[4], &steps)) return "its steps are computed per run";
      }
      for (const ShapeValue* v : {&starts, &ends, &axes, &steps})
        if (!all_fixed(*v)) return "its starts, ends, axes or steps depend on the batch or are computed per run";
      if (axes.entries.empty())
        for (size_t i = 0; i < starts.entries.size(); ++i) axes.entries.push_back(static_cast<int64_t>(i));
      if (touches_axis0(axes.entries, r)) return "it slices the batch axis";
      return "";
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
  int threads_;
  std::vector<char> batched_;
  std::vector<ShapeValue> shape_values_;  // by value id, where tracked_
  std::vector<char> tracked_;
  std::vector<ir::Shape> shapes_;                // by value id: the graph's, per-image sizes recovered
  std::vector<std::unique_ptr<Tensor>> folded_;  // tracked shape values handed to inference as constants
};

}  // namespace

BatchSplit analyze_batch_split(const ir::Graph& graph, int threads) { return Analysis(graph, threads).run(); }

}  // namespace kiln::runtime
