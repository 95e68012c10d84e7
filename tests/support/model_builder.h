// Builds small ONNX models in C++ for tests: graph inputs/outputs,
// initializers, nodes with attributes. Tests may see protobuf; the engine's
// public API may not.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include <onnx/onnx_pb.h>

#include "kiln/kiln.h"

namespace kiln::test {

class ModelBuilder {
 public:
  explicit ModelBuilder(int opset = 17);

  // A graph input; dims of -1 become a symbolic dim "N<i>".
  ModelBuilder& input(const std::string& name, DType dtype, std::vector<int64_t> shape);
  // A graph output; dtype Undefined leaves its type out (kiln infers it).
  ModelBuilder& output(const std::string& name, DType dtype = DType::Undefined);
  ModelBuilder& initializer(const std::string& name, const Tensor& value);
  // Adds a node; add attributes with the attr() helpers on the returned proto.
  onnx::NodeProto& node(const std::string& op_type, std::vector<std::string> inputs,
                        std::vector<std::string> outputs, const std::string& name = "");

  onnx::ModelProto& proto() { return model_; }
  std::string bytes() const;
  Session session(const SessionOptions& options = {}) const;
  // Writes model.onnx into `path`.
  void save(const std::string& path) const;

 private:
  onnx::ModelProto model_;
};

void attr(onnx::NodeProto& n, const std::string& name, int64_t v);
void attr(onnx::NodeProto& n, const std::string& name, float v);
void attr(onnx::NodeProto& n, const std::string& name, const std::string& v);
void attr(onnx::NodeProto& n, const std::string& name, const std::vector<int64_t>& v);
void attr(onnx::NodeProto& n, const std::string& name, const std::vector<float>& v);
void attr(onnx::NodeProto& n, const std::string& name, const Tensor& v);

// Serializes a tensor as a TensorProto with raw_data.
void to_proto(const Tensor& t, const std::string& name, onnx::TensorProto* p);

// Runs a one-node model: op with `inputs` (named x0, x1, …; empty tensors are
// omitted optional inputs), returns its `num_outputs` outputs.
std::vector<Tensor> run_op(const std::string& op_type, const std::vector<Tensor>& inputs, size_t num_outputs,
                           const std::function<void(onnx::NodeProto&)>& set_attrs = {}, int opset = 17);

}  // namespace kiln::test
