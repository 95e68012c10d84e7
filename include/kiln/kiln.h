// kiln: a CPU inference engine for ONNX models — the public C++ API.
//
// Load a model once, query its inputs and outputs, run it many times (from many
// threads at once on one Session). Errors are reported as kiln::Error, whose
// message names what was wrong and where (file, node, op, opset).
// Nothing in this header exposes protobuf, oneTBB or xsimd types.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace kiln {

// Thrown for every failure: bad model files, unsupported ops, wrong inputs.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Element types, numbered as ONNX's TensorProto.DataType.
enum class DType : int32_t {
  Undefined = 0,
  Float32 = 1,
  UInt8 = 2,
  Int8 = 3,
  UInt16 = 4,
  Int16 = 5,
  Int32 = 6,
  Int64 = 7,
  String = 8,
  Bool = 9,
  Float16 = 10,
  Float64 = 11,
  UInt32 = 12,
  UInt64 = 13,
  BFloat16 = 16,
};

// Bytes per element; 0 for Undefined and String.
size_t dtype_size(DType t);
// "float32", "int64", …; "dtype(N)" for codes kiln does not know.
std::string dtype_name(DType t);
// True for the codes listed in DType other than Undefined and String.
bool dtype_is_supported(DType t);

// A dense, row-major tensor. Copies share storage (like a shared_ptr); use
// clone() for a deep copy. A tensor either owns its storage (64-byte aligned,
// zero-initialised) or wraps memory that the caller keeps alive.
class Tensor;
namespace detail {
bool storage_is_unique(const Tensor& t);
Tensor subview(const Tensor& t, int64_t element_offset, std::vector<int64_t> shape);
}

class Tensor {
 public:
  Tensor() = default;
  Tensor(DType dtype, std::vector<int64_t> shape);
  // Wraps caller memory: no copy; the caller keeps `data` alive and unchanged
  // for as long as the tensor (or any copy of it) is used.
  static Tensor wrap(DType dtype, std::vector<int64_t> shape, void* data);
  // Owned storage left uninitialized (the constructor zero-fills): for callers
  // that write every element before reading any.
  static Tensor uninitialized(DType dtype, std::vector<int64_t> shape);

  DType dtype() const { return dtype_; }
  const std::vector<int64_t>& shape() const { return shape_; }
  size_t rank() const { return shape_.size(); }
  int64_t numel() const { return numel_; }
  size_t nbytes() const { return static_cast<size_t>(numel_) * dtype_size(dtype_); }
  bool empty() const { return dtype_ == DType::Undefined; }

  void* data() { return data_; }
  const void* data() const { return data_; }
  template <class T>
  T* data_as() { return static_cast<T*>(data_); }
  template <class T>
  const T* data_as() const { return static_cast<const T*>(data_); }

  Tensor clone() const;
  // Same storage, another shape with the same element count.
  Tensor reshaped(std::vector<int64_t> shape) const;

 private:
  friend bool detail::storage_is_unique(const Tensor& t);
  friend Tensor detail::subview(const Tensor& t, int64_t element_offset, std::vector<int64_t> shape);
  DType dtype_ = DType::Undefined;
  std::vector<int64_t> shape_;
  int64_t numel_ = 0;
  std::shared_ptr<void> storage_;
  void* data_ = nullptr;
};

// Element count of `shape`, or an Error if a dim is negative or the product
// overflows int64 / exceeds what memory can hold.
int64_t checked_numel(const std::vector<int64_t>& shape);
// "1x3x224x224"; "scalar" for rank 0.
std::string shape_to_string(const std::vector<int64_t>& shape);

// Describes one graph input or output. Free dims are -1, with their symbolic
// name (if the model gives one) in dim_names.
struct TensorInfo {
  std::string name;
  DType dtype = DType::Undefined;
  std::vector<int64_t> shape;
  std::vector<std::string> dim_names;
  bool has_shape = false;  // false when the model gives no shape at all
};

// How BatchNormalization nodes are treated.
enum class BatchNormMode {
  // Per node: the training_mode attribute (opset >= 14), or the presence of the
  // running-statistics outputs (earlier opsets).
  Auto,
  // Every BN uses its running statistics (for exporters that wrongly emit
  // training mode); kiln warns when this changes a node's meaning.
  Inference,
  // Every BN uses batch statistics; never folded.
  Training,
};

struct SessionOptions {
  // Intra-op threads; 0 means all cores of the machine.
  int threads = 0;
  // Graph optimizations: constant folding, BatchNormalization folding into the
  // neighbouring Conv/ConvTranspose/Gemm/MatMul. Off runs the graph as written
  // (the unfused path).
  bool fusion = true;
  BatchNormMode batchnorm_mode = BatchNormMode::Auto;
  // Intermediates in one arena per run, laid out once per set of input shapes
  // (buffers reused, elementwise ops in place). Off: every intermediate is a
  // fresh heap allocation, freed after its last use.
  bool memory_plan = true;
  // A batch of several images is run one image at a time, the session's
  // threads each taking whole images, when the graph is proven to compute
  // every image on its own (batch axis first on every input and output, no op
  // mixing images; Session::splits_batch says whether it was). Faster for
  // most CNNs, whose per-image activations then stay in the cache. Results
  // match the whole-batch run within float rounding, and do not depend on
  // the thread count. Profiled runs always run the batch whole.
  bool split_batch = true;
  // Limits applied while loading, checked before anything is allocated.
  uint64_t max_initializer_bytes = uint64_t{16} << 30;  // all initializers together
  uint64_t max_tensor_elements = uint64_t{1} << 34;
  int max_rank = 16;
  int64_t max_nodes = 1'000'000;
};

// One decision of the optimizer about one node.
struct FusionDecision {
  std::string node;    // node name
  std::string op;      // its op type
  std::string action;  // e.g. "folded into Conv 'conv1'", "kept", "removed"
  std::string reason;  // why (for refusals: what prevented the rewrite)
};

// What the optimizer did to the model as loaded.
struct FusionReport {
  bool enabled = false;
  int batchnorm_nodes = 0;   // BatchNormalization nodes in the model as loaded
  int batchnorm_folded = 0;  // of those, folded into a neighbouring layer
  int fused_activations = 0;
  int fused_adds = 0;
  int constants_folded = 0;  // nodes evaluated at load
  std::vector<FusionDecision> decisions;
  std::vector<std::string> warnings;  // numeric audit and mode overrides
};

// Where one node's time went in one run (Session::run_profiled).
struct NodeProfile {
  std::string name;     // node name as in the model (may be empty)
  std::string op_type;  // "Conv", or "kiln.FusedConv" for kiln's own domain
  std::string kernel;   // the kernel the op chose ("reference" unless it says otherwise)
  std::vector<std::vector<int64_t>> input_shapes;   // present inputs, in order
  std::vector<std::vector<int64_t>> output_shapes;  // present outputs, in order
  double start_ms = 0;     // from the start of the run
  double duration_ms = 0;
  double flops = 0;        // floating-point operations, 0 where the op does not say
};

namespace detail {
class SessionImpl;
}

class Session {
 public:
  // Loads an ONNX model file. External data is resolved relative to its folder.
  static Session load(const std::string& path, const SessionOptions& options = {});
  // Loads a model from memory. `base_dir` is where external data lives; a model
  // that references external data without a base_dir is refused.
  static Session load_from_bytes(const void* data, size_t size, const SessionOptions& options = {},
                                 const std::string& base_dir = "");

  const std::vector<TensorInfo>& inputs() const;
  const std::vector<TensorInfo>& outputs() const;
  // The threads that run() uses.
  int threads() const;
  // What graph optimization did (enabled == false when fusion is off).
  const FusionReport& fusion_report() const;
  // Whether run() splits a batch into single images (SessionOptions::
  // split_batch), and if not, why (the first input, output or node that
  // prevents it; empty when it splits).
  bool splits_batch() const;
  const std::string& batch_split_reason() const;
  // Writes the graph as this session runs it (folded weights, fused epilogues
  // expanded back into standard ops) as an ONNX model file.
  void save_optimized(const std::string& path) const;

  // Runs the model. `inputs` are in inputs() order. Thread-safe: many threads may
  // call run() on one Session at once.
  std::vector<Tensor> run(const std::vector<Tensor>& inputs) const;
  // Inputs by name (every input of inputs() must be named once).
  std::vector<Tensor> run(const std::vector<std::pair<std::string, Tensor>>& named_inputs) const;
  // Caller-provided outputs: an output slot holding a tensor of the right dtype
  // and shape is written in place (so it may wrap caller memory); an empty slot,
  // or one of another dtype/shape, is replaced by an engine-allocated tensor.
  void run(const std::vector<Tensor>& inputs, std::vector<Tensor>& outputs) const;
  // Like run(), and fills `profile` with one entry per node in execution order.
  // Timing is off in plain run(), which pays nothing for it.
  std::vector<Tensor> run_profiled(const std::vector<Tensor>& inputs, std::vector<NodeProfile>& profile) const;

 private:
  explicit Session(std::shared_ptr<const detail::SessionImpl> impl);
  std::shared_ptr<const detail::SessionImpl> impl_;
};

}  // namespace kiln
