// The IR: a graph of nodes joined by values. Built by the ONNX loader; read by
// shape inference, passes, and the executor. Nothing here knows about protobuf.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "kiln/kiln.h"

namespace kiln::ir {

// A possibly-partial shape: dims of -1 are unknown. `known == false` means even
// the rank is unknown.
struct Shape {
  bool known = false;
  std::vector<int64_t> dims;

  static Shape unknown() { return {}; }
  static Shape of(std::vector<int64_t> d) { return {true, std::move(d)}; }
  bool fully_known() const;
  size_t rank() const { return dims.size(); }
  std::string str() const;  // "1x3x?x?", or "?" for unknown rank
};

struct Attribute {
  enum class Kind { Float, Int, String, Tensor, Graph, Floats, Ints, Strings, Tensors, Graphs, Other };
  Kind kind = Kind::Other;
  float f = 0;
  int64_t i = 0;
  std::string s;
  Tensor t;
  std::vector<float> floats;
  std::vector<int64_t> ints;
  std::vector<std::string> strings;
  std::vector<Tensor> tensors;
};
const char* attribute_kind_name(Attribute::Kind k);

struct Node;

struct Value {
  int id = -1;
  std::string name;
  DType dtype = DType::Undefined;
  Shape shape;
  std::vector<std::string> dim_names;  // for graph inputs/outputs: symbolic dim names, "" where none
  Node* producer = nullptr;
  std::vector<Node*> consumers;
  std::optional<Tensor> constant;  // initializer data (or folded constant)
  bool is_graph_input = false;
  bool is_graph_output = false;
};

struct Node {
  int id = -1;
  std::string name;
  std::string op_type;
  std::string domain;  // "" for the default ONNX domain
  int opset = 0;       // opset version of `domain` that the model imports
  std::vector<Value*> inputs;   // nullptr for an omitted optional input
  std::vector<Value*> outputs;  // nullptr for an omitted optional output
  std::map<std::string, Attribute> attributes;

  // "node 'conv1' (Conv, opset 13)" — the prefix of every error about this node.
  std::string describe() const;

  bool has_attr(const std::string& name) const { return attributes.count(name) != 0; }
  const Attribute* find_attr(const std::string& name) const;
  // Typed getters: the default when absent; an Error naming the node when the
  // attribute has another kind.
  int64_t attr_int(const std::string& name, int64_t def) const;
  float attr_float(const std::string& name, float def) const;
  std::string attr_string(const std::string& name, const std::string& def) const;
  std::vector<int64_t> attr_ints(const std::string& name, std::vector<int64_t> def = {}) const;
  std::vector<float> attr_floats(const std::string& name, std::vector<float> def = {}) const;
  const Tensor* attr_tensor(const std::string& name) const;

  size_t num_inputs() const { return inputs.size(); }
  bool has_input(size_t i) const { return i < inputs.size() && inputs[i] != nullptr; }
  bool has_output(size_t i) const { return i < outputs.size() && outputs[i] != nullptr; }
};

class Graph {
 public:
  Graph() = default;
  Graph(const Graph&) = delete;
  Graph& operator=(const Graph&) = delete;

  std::string name;
  std::map<std::string, int> opsets;  // domain ("" for ONNX) → version
  std::vector<Value*> inputs;         // graph inputs, excluding initializer-backed ones
  std::vector<Value*> outputs;

  // Returns the value named `name`, creating it if absent.
  Value* value(const std::string& name);
  Value* find_value(const std::string& name) const;
  Node* add_node(std::string op_type, std::string domain, std::string name);

  const std::vector<std::unique_ptr<Node>>& nodes() const { return nodes_; }
  const std::vector<std::unique_ptr<Value>>& values() const { return values_; }

  // Rewrite helpers for passes. After rewriting, call finalize() again.
  // Removes `n` from the graph (its values stay; prune() drops unused ones).
  void remove_node(Node* n);
  // A new constant value named after `hint`, made unique.
  Value* add_constant(const std::string& hint, Tensor t);
  // A name not used by any value, derived from `hint`.
  std::string unique_name(const std::string& hint) const;
  // Makes every node input that reads `from` read `to` instead (graph
  // outputs are left alone: their names are part of the model's interface).
  void replace_uses(Value* from, Value* to);
  // Drops values that nothing produces, consumes or exposes, and renumbers
  // value and node ids densely.
  void prune();

  // Links producer/consumers from node inputs/outputs and sorts nodes
  // topologically; throws an Error naming a node on a cycle, a value with two
  // producers, or an input nothing produces.
  void finalize();
  // Nodes in topological order (valid after finalize()).
  const std::vector<Node*>& order() const { return order_; }

 private:
  std::vector<std::unique_ptr<Node>> nodes_;
  std::vector<std::unique_ptr<Value>> values_;
  std::map<std::string, Value*> by_name_;
  std::vector<Node*> order_;
};

}  // namespace kiln::ir
