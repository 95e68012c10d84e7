#include "onnx/loader.h"

#include <algorithm>
#include <climits>
#include <filesystem>
#include <memory>
#include <set>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <google/protobuf/io/coded_stream.h>
#include <onnx/onnx_pb.h>

#include "onnx/tensor_proto.h"

namespace kiln::onnx_import {

namespace {

struct Loader {
  const SessionOptions& options;
  std::string base_dir;
  std::string source;
  uint64_t total_bytes = 0;

  TensorLimits limits() {
    TensorLimits l;
    l.max_tensor_elements = options.max_tensor_elements;
    l.max_rank = options.max_rank;
    l.base_dir = base_dir;
    l.total_bytes = &total_bytes;
    l.max_total_bytes = options.max_initializer_bytes;
    return l;
  }

  std::string ctx(const std::string& what) const { return source + ": " + what; }

  // Names end up in error messages, which are C strings: a NUL byte would cut
  // them short. No valid model has one, so it means a corrupt file.
  void check_name(const std::string& name, const std::string& what) const {
    if (name.find('\0') != std::string::npos) throw Error(ctx(what + " contains a NUL byte (the file is corrupt)"));
  }

  void read_type(const onnx::ValueInfoProto& vi, ir::Value* v, bool required) {
    if (!vi.has_type()) {
      if (required) throw Error(ctx("graph input/output '" + vi.name() + "' has no type"));
      return;
    }
    const auto& type = vi.type();
    if (!type.has_tensor_type()) {
      if (required)
        throw Error(ctx("graph input/output '" + vi.name() +
                        "' is not a tensor (sequence, map and optional types are not supported by kiln)"));
      return;
    }
    const auto& tt = type.tensor_type();
    auto dtype = static_cast<DType>(tt.elem_type());
    if (v->dtype == DType::Undefined) v->dtype = dtype;
    if (!tt.has_shape()) return;
    if (tt.shape().dim_size() > options.max_rank)
      throw Error(ctx("value '" + vi.name() + "' has rank " + std::to_string(tt.shape().dim_size()) +
                      ", above the limit of " + std::to_string(options.max_rank)));
    ir::Shape s = ir::Shape::of({});
    std::vector<std::string> names;
    for (const auto& d : tt.shape().dim()) {
      if (d.has_dim_value()) {
        if (d.dim_value() < 0)
          throw Error(ctx("value '" + vi.name() + "' has a negative dimension " + std::to_string(d.dim_value())));
        s.dims.push_back(d.dim_value());
      } else {
        s.dims.push_back(-1);
      }
      names.push_back(d.has_dim_param() ? d.dim_param() : "");
    }
    if (!v->shape.known) {
      v->shape = s;
      v->dim_names = names;
    }
  }

  ir::Attribute read_attribute(const onnx::AttributeProto& a, const std::string& node_desc) {
    ir::Attribute r;
    using A = onnx::AttributeProto;
    auto type = a.type();
    if (type == A::UNDEFINED) {  // very old models: infer from the field that is set
      if (a.has_f()) type = A::FLOAT;
      else if (a.has_i()) type = A::INT;
      else if (a.has_s()) type = A::STRING;
      else if (a.has_t()) type = A::TENSOR;
      else if (a.has_g()) type = A::GRAPH;
      else if (a.floats_size()) type = A::FLOATS;
      else if (a.ints_size()) type = A::INTS;
      else if (a.strings_size()) type = A::STRINGS;
      else if (a.tensors_size()) type = A::TENSORS;
      else if (a.graphs_size()) type = A::GRAPHS;
    }
    switch (type) {
      case A::FLOAT: r.kind = ir::Attribute::Kind::Float; r.f = a.f(); break;
      case A::INT: r.kind = ir::Attribute::Kind::Int; r.i = a.i(); break;
      case A::STRING: r.kind = ir::Attribute::Kind::String; r.s = a.s(); break;
      case A::TENSOR:
        r.kind = ir::Attribute::Kind::Tensor;
        r.t = tensor_from_proto(a.t(), limits(), node_desc + " attribute '" + a.name() + "'");
        break;
      case A::GRAPH: r.kind = ir::Attribute::Kind::Graph; break;
      case A::FLOATS: r.kind = ir::Attribute::Kind::Floats; r.floats.assign(a.floats().begin(), a.floats().end()); break;
      case A::INTS: r.kind = ir::Attribute::Kind::Ints; r.ints.assign(a.ints().begin(), a.ints().end()); break;
      case A::STRINGS: r.kind = ir::Attribute::Kind::Strings; r.strings.assign(a.strings().begin(), a.strings().end()); break;
      case A::TENSORS:
        r.kind = ir::Attribute::Kind::Tensors;
        for (const auto& t : a.tensors())
          r.tensors.push_back(tensor_from_proto(t, limits(), node_desc + " attribute '" + a.name() + "'"));
        break;
      case A::GRAPHS: r.kind = ir::Attribute::Kind::Graphs; break;
      default: r.kind = ir::Attribute::Kind::Other; break;
    }
    return r;
  }

  // Constants given as float/int lists count against the same limits as
  // initializers and attribute tensors.
  void check_list_constant(const ir::Node& n, size_t count, size_t elem_size) {
    if (count > options.max_tensor_elements)
      throw Error(ctx(n.describe() + ": " + std::to_string(count) + " elements exceeds the limit of " +
                      std::to_string(options.max_tensor_elements)));
    uint64_t bytes = static_cast<uint64_t>(count) * elem_size;
    if (bytes > options.max_initializer_bytes - std::min(total_bytes, options.max_initializer_bytes))
      throw Error(ctx(n.describe() + ": initializers exceed the limit of " +
                      std::to_string(options.max_initializer_bytes) + " bytes"));
    total_bytes += bytes;
  }

  // A Constant node becomes a constant value, whichever attribute form it uses.
  Tensor constant_value(const ir::Node& n) {
    if (n.attributes.size() != 1)
      throw Error(ctx(n.describe() + ": a Constant needs exactly one value attribute"));
    const auto& [name, a] = *n.attributes.begin();
    if (name == "value" && a.kind == ir::Attribute::Kind::Tensor) return a.t;
    if (name == "value_float" && a.kind == ir::Attribute::Kind::Float) {
      Tensor t(DType::Float32, {});
      *t.data_as<float>() = a.f;
      return t;
    }
    if (name == "value_floats" && a.kind == ir::Attribute::Kind::Floats) {
      check_list_constant(n, a.floats.size(), sizeof(float));
      Tensor t(DType::Float32, {static_cast<int64_t>(a.floats.size())});
      std::copy(a.floats.begin(), a.floats.end(), t.data_as<float>());
      return t;
    }
    if (name == "value_int" && a.kind == ir::Attribute::Kind::Int) {
      Tensor t(DType::Int64, {});
      *t.data_as<int64_t>() = a.i;
      return t;
    }
    if (name == "value_ints" && a.kind == ir::Attribute::Kind::Ints) {
      check_list_constant(n, a.ints.size(), sizeof(int64_t));
      Tensor t(DType::Int64, {static_cast<int64_t>(a.ints.size())});
      std::copy(a.ints.begin(), a.ints.end(), t.data_as<int64_t>());
      return t;
    }
    throw Error(ctx(n.describe() + ": Constant attribute '" + name + "' (" + ir::attribute_kind_name(a.kind) +
                    ") is not supported by kiln (strings and sparse tensors are not)"));
  }

  std::unique_ptr<ir::Graph> convert(const onnx::ModelProto& model) {
    auto g = std::make_unique<ir::Graph>();
    if (!model.has_graph()) throw Error(ctx("the model has no graph"));
    for (const auto& op : model.opset_import()) {
      std::string d = op.domain() == "ai.onnx" ? "" : op.domain();
      g->opsets[d] = static_cast<int>(op.version());
    }
    if (model.opset_import_size() == 0) {
      // IR version 1/2 models predate opset_import; they mean opset 1. From IR
      // version 3 on it is required: a model without it is broken (often a
      // file cut short just before this last top-level field).
      if (model.ir_version() >= 3)
        throw Error(ctx("the model has IR version " + std::to_string(model.ir_version()) +
                        " but imports no opset (opset_import is missing; is the file truncated?)"));
      g->opsets[""] = 1;
    }
    const auto& graph = model.graph();
    g->name = graph.name();
    if (graph.node_size() > options.max_nodes)
      throw Error(ctx("the graph has " + std::to_string(graph.node_size()) + " nodes, above the limit of " +
                      std::to_string(options.max_nodes)));

    std::set<std::string> seen_inits;
    for (const auto& init : graph.initializer()) {
      if (init.name().empty()) throw Error(ctx("an initializer has no name"));
      check_name(init.name(), "an initializer's name");
      if (!seen_inits.insert(init.name()).second)
        throw Error(ctx("initializer '" + init.name() + "' is defined twice"));
      ir::Value* v = g->value(init.name());
      v->constant = tensor_from_proto(init, limits(), ctx("initializer '" + init.name() + "'"));
      v->dtype = v->constant->dtype();
      v->shape = ir::Shape::of(v->constant->shape());
    }
    if (graph.sparse_initializer_size() > 0)
      throw Error(ctx("sparse initializers are not supported by kiln"));

    std::set<std::string> seen_inputs;
    for (const auto& in : graph.input()) {
      if (in.name().empty()) throw Error(ctx("a graph input has no name"));
      check_name(in.name(), "a graph input's name");
      if (!seen_inputs.insert(in.name()).second) throw Error(ctx("graph input '" + in.name() + "' is listed twice"));
      ir::Value* v = g->value(in.name());
      if (v->constant) continue;  // older models list initializers as inputs too
      read_type(in, v, true);
      if (!dtype_is_supported(v->dtype))
        throw Error(ctx("graph input '" + in.name() + "' has dtype " + dtype_name(v->dtype) + ", not supported by kiln"));
      g->inputs.push_back(v);
    }
    for (const auto& vi : graph.value_info()) {
      check_name(vi.name(), "a value_info name");
      read_type(vi, g->value(vi.name()), false);
    }

    int node_index = 0;
    for (const auto& np : graph.node()) {
      std::string domain = np.domain() == "ai.onnx" ? "" : np.domain();
      if (np.op_type().empty()) throw Error(ctx("node " + std::to_string(node_index) + " has no op_type"));
      {
        std::string at = "node " + std::to_string(node_index) + ": ";
        check_name(np.name(), at + "its name");
        check_name(np.op_type(), at + "its op_type");
        check_name(np.domain(), at + "its domain");
        for (const auto& name : np.input()) check_name(name, at + "an input name");
        for (const auto& name : np.output()) check_name(name, at + "an output name");
        for (const auto& a : np.attribute()) check_name(a.name(), at + "an attribute name");
      }
      ++node_index;
      bool is_constant = np.op_type() == "Constant" && domain.empty();
      // A Constant is not kept as a node: its output becomes a constant value.
      ir::Node constant_node;
      ir::Node* n = is_constant ? &constant_node : g->add_node(np.op_type(), domain, np.name());
      if (is_constant) {
        n->op_type = "Constant";
        n->name = np.name().empty() ? "Constant_" + std::to_string(node_index - 1) : np.name();
        n->opset = g->opsets.count("") ? g->opsets[""] : 0;
      }
      if (!g->opsets.count(n->domain))
        throw Error(ctx(n->describe() + ": the model imports no opset for domain '" + n->domain + "'"));
      for (const auto& a : np.attribute()) {
        if (!a.ref_attr_name().empty())
          throw Error(ctx(n->describe() + ": attribute '" + a.name() + "' refers to a function attribute"));
        if (n->attributes.count(a.name()))
          throw Error(ctx(n->describe() + ": attribute '" + a.name() + "' is given twice"));
        n->attributes[a.name()] = read_attribute(a, n->describe());
      }
      if (is_constant) {
        if (np.input_size() != 0 || np.output_size() != 1 || np.output(0).empty())
          throw Error(ctx(n->describe() + ": a Constant takes no inputs and has exactly one output"));
        ir::Value* v = g->value(np.output(0));
        // Node producers are linked later (Graph::finalize), so only clashes
        // with inputs, initializers and earlier Constants can be seen here;
        // finalize catches the rest.
        if (v->constant || seen_inputs.count(v->name))
          throw Error(ctx(n->describe() + ": output '" + v->name + "' is defined twice (as a graph input, initializer or another Constant)"));
        v->constant = constant_value(*n);
        v->dtype = v->constant->dtype();
        v->shape = ir::Shape::of(v->constant->shape());
        continue;
      }
      for (const auto& name : np.input()) n->inputs.push_back(name.empty() ? nullptr : g->value(name));
      for (const auto& name : np.output()) {
        if (name.empty()) { n->outputs.push_back(nullptr); continue; }
        n->outputs.push_back(g->value(name));
      }
    }

    std::set<std::string> seen_outputs;
    for (const auto& out : graph.output()) {
      if (out.name().empty()) throw Error(ctx("a graph output has no name"));
      check_name(out.name(), "a graph output's name");
      if (!seen_outputs.insert(out.name()).second) throw Error(ctx("graph output '" + out.name() + "' is listed twice"));
      ir::Value* v = g->value(out.name());
      read_type(out, v, false);
      g->outputs.push_back(v);
    }
    if (g->outputs.empty()) throw Error(ctx("the graph has no outputs"));
    return g;
  }
};

}  // namespace

std::unique_ptr<ir::Graph> load_model_bytes(const void* data, size_t size, const std::string& base_dir,
                                            const SessionOptions& options, const std::string& source) {
  if (size == 0) throw Error(source + ": the model is empty (0 bytes)");
  if (size > static_cast<size_t>(INT_MAX))
    throw Error(source + ": the model file is " + std::to_string(size) +
                " bytes; protobuf cannot hold more than 2 GiB, so larger models must keep their weights in external data");
  onnx::ModelProto model;
  google::protobuf::io::CodedInputStream stream(static_cast<const uint8_t*>(data), static_cast<int>(size));
  stream.SetTotalBytesLimit(INT_MAX);
  stream.SetRecursionLimit(64);
  if (!model.ParseFromCodedStream(&stream) || !stream.ConsumedEntireMessage())
    throw Error(source + ": not a valid ONNX model (protobuf parsing failed: the file is corrupt, truncated, or not ONNX)");
  Loader loader{options, base_dir, source};
  return loader.convert(model);
}

std::unique_ptr<ir::Graph> load_model_file(const std::string& path, const SessionOptions& options) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) throw Error(path + ": is a directory, not a model file");
  // Mapped, not read: the parser copies what it keeps, so a private copy of
  // the whole file (tens of MB of freshly faulted pages) would only be waste.
  // O_NONBLOCK so that a FIFO does not block the open; fstat then refuses
  // anything that is not a regular file.
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) throw Error(path + ": cannot open the model file: " + std::strerror(errno));
  struct Closer { int fd; ~Closer() { ::close(fd); } } closer{fd};
  struct stat st{};
  if (::fstat(fd, &st) != 0) throw Error(path + ": cannot read the model file: " + std::strerror(errno));
  if (!S_ISREG(st.st_mode)) throw Error(path + ": not a regular file");
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  if (size > static_cast<uint64_t>(INT_MAX))
    throw Error(path + ": the model file is " + std::to_string(size) +
                " bytes; protobuf cannot hold more than 2 GiB, so larger models must keep their weights in external data");
  std::filesystem::path p(path);
  std::string dir = p.has_parent_path() ? p.parent_path().string() : ".";
  if (size == 0) return load_model_bytes(nullptr, 0, dir, options, path);
  void* map = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
  if (map == MAP_FAILED) throw Error(path + ": cannot map the model file: " + std::strerror(errno));
  struct Unmapper { void* p; size_t n; ~Unmapper() { ::munmap(p, n); } } unmapper{map, size};
  ::madvise(map, size, MADV_SEQUENTIAL);
  return load_model_bytes(map, size, dir, options, path);
}

}  // namespace kiln::onnx_import
