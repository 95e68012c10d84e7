#include "support/model_builder.h"

#include <fstream>

namespace kiln::test {

ModelBuilder::ModelBuilder(int opset) {
  model_.set_ir_version(8);
  model_.set_producer_name("kiln-tests");
  auto* op = model_.add_opset_import();
  op->set_domain("");
  op->set_version(opset);
  model_.mutable_graph()->set_name("test");
}

ModelBuilder& ModelBuilder::input(const std::string& name, DType dtype, std::vector<int64_t> shape) {
  auto* vi = model_.mutable_graph()->add_input();
  vi->set_name(name);
  auto* tt = vi->mutable_type()->mutable_tensor_type();
  tt->set_elem_type(static_cast<int32_t>(dtype));
  auto* sh = tt->mutable_shape();
  for (size_t i = 0; i < shape.size(); ++i) {
    auto* d = sh->add_dim();
    if (shape[i] < 0) d->set_dim_param("N" + std::to_string(i));
    else d->set_dim_value(shape[i]);
  }
  return *this;
}

ModelBuilder& ModelBuilder::output(const std::string& name, DType dtype) {
  auto* vi = model_.mutable_graph()->add_output();
  vi->set_name(name);
  if (dtype != DType::Undefined) vi->mutable_type()->mutable_tensor_type()->set_elem_type(static_cast<int32_t>(dtype));
  return *this;
}

void to_proto(const Tensor& t, const std::string& name, onnx::TensorProto* p) {
  p->set_name(name);
  p->set_data_type(static_cast<int32_t>(t.dtype()));
  for (int64_t d : t.shape()) p->add_dims(d);
  p->set_raw_data(std::string(static_cast<const char*>(t.data()), t.nbytes()));
}

ModelBuilder& ModelBuilder::initializer(const std::string& name, const Tensor& value) {
  to_proto(value, name, model_.mutable_graph()->add_initializer());
  return *this;
}

onnx::NodeProto& ModelBuilder::node(const std::string& op_type, std::vector<std::string> inputs,
                                    std::vector<std::string> outputs, const std::string& name) {
  auto* n = model_.mutable_graph()->add_node();
  n->set_op_type(op_type);
  n->set_name(name.empty() ? op_type + "_" + std::to_string(model_.graph().node_size() - 1) : name);
  for (auto& i : inputs) n->add_input(i);
  for (auto& o : outputs) n->add_output(o);
  return *n;
}

std::string ModelBuilder::bytes() const { return model_.SerializeAsString(); }

Session ModelBuilder::session(const SessionOptions& options) const {
  std::string b = bytes();
  return Session::load_from_bytes(b.data(), b.size(), options);
}

void ModelBuilder::save(const std::string& path) const {
  std::ofstream f(path, std::ios::binary);
  if (!f || !model_.SerializeToOstream(&f)) throw Error("cannot write " + path);
}

namespace {
onnx::AttributeProto* new_attr(onnx::NodeProto& n, const std::string& name, onnx::AttributeProto::AttributeType t) {
  auto* a = n.add_attribute();
  a->set_name(name);
  a->set_type(t);
  return a;
}
}  // namespace

void attr(onnx::NodeProto& n, const std::string& name, int64_t v) { new_attr(n, name, onnx::AttributeProto::INT)->set_i(v); }
void attr(onnx::NodeProto& n, const std::string& name, float v) { new_attr(n, name, onnx::AttributeProto::FLOAT)->set_f(v); }
void attr(onnx::NodeProto& n, const std::string& name, const std::string& v) {
  new_attr(n, name, onnx::AttributeProto::STRING)->set_s(v);
}
void attr(onnx::NodeProto& n, const std::string& name, const std::vector<int64_t>& v) {
  auto* a = new_attr(n, name, onnx::AttributeProto::INTS);
  for (auto x : v) a->add_ints(x);
}
void attr(onnx::NodeProto& n, const std::string& name, const std::vector<float>& v) {
  auto* a = new_attr(n, name, onnx::AttributeProto::FLOATS);
  for (auto x : v) a->add_floats(x);
}
void attr(onnx::NodeProto& n, const std::string& name, const Tensor& v) {
  to_proto(v, "", new_attr(n, name, onnx::AttributeProto::TENSOR)->mutable_t());
}

std::vector<Tensor> run_op(const std::string& op_type, const std::vector<Tensor>& inputs, size_t num_outputs,
                           const std::function<void(onnx::NodeProto&)>& set_attrs, int opset) {
  ModelBuilder b(opset);
  std::vector<std::string> in_names, out_names;
  std::vector<Tensor> feed;
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (inputs[i].empty()) {
      in_names.push_back("");
      continue;
    }
    std::string name = "x" + std::to_string(i);
    b.input(name, inputs[i].dtype(), inputs[i].shape());
    in_names.push_back(name);
    feed.push_back(inputs[i]);
  }
  for (size_t i = 0; i < num_outputs; ++i) {
    out_names.push_back("y" + std::to_string(i));
    b.output(out_names.back());
  }
  auto& n = b.node(op_type, in_names, out_names);
  if (set_attrs) set_attrs(n);
  return b.session().run(feed);
}

}  // namespace kiln::test
