#include "ir/graph.h"

#include <algorithm>
#include <deque>

namespace kiln::ir {

bool Shape::fully_known() const {
  if (!known) return false;
  return std::all_of(dims.begin(), dims.end(), [](int64_t d) { return d >= 0; });
}

std::string Shape::str() const { return known ? shape_to_string(dims) : std::string("?"); }

const char* attribute_kind_name(Attribute::Kind k) {
  switch (k) {
    case Attribute::Kind::Float: return "float";
    case Attribute::Kind::Int: return "int";
    case Attribute::Kind::String: return "string";
    case Attribute::Kind::Tensor: return "tensor";
    case Attribute::Kind::Graph: return "graph";
    case Attribute::Kind::Floats: return "floats";
    case Attribute::Kind::Ints: return "ints";
    case Attribute::Kind::Strings: return "strings";
    case Attribute::Kind::Tensors: return "tensors";
    case Attribute::Kind::Graphs: return "graphs";
    case Attribute::Kind::Other: return "other";
  }
  return "?";
}

std::string Node::describe() const {
  std::string d = domain.empty() ? "" : domain + ".";
  return "node '" + name + "' (" + d + op_type + ", opset " + std::to_string(opset) + ")";
}

const Attribute* Node::find_attr(const std::string& n) const {
  auto it = attributes.find(n);
  return it == attributes.end() ? nullptr : &it->second;
}

namespace {
[[noreturn]] void wrong_kind(const Node& node, const std::string& name, const Attribute& a, const char* want) {
  throw Error(node.describe() + ": attribute '" + name + "' should be " + want + " but is " +
              attribute_kind_name(a.kind));
}
}  // namespace

int64_t Node::attr_int(const std::string& n, int64_t def) const {
  const Attribute* a = find_attr(n);
  if (!a) return def;
  if (a->kind != Attribute::Kind::Int) wrong_kind(*this, n, *a, "int");
  return a->i;
}

float Node::attr_float(const std::string& n, float def) const {
  const Attribute* a = find_attr(n);
  if (!a) return def;
  if (a->kind == Attribute::Kind::Int) return static_cast<float>(a->i);
  if (a->kind != Attribute::Kind::Float) wrong_kind(*this, n, *a, "float");
  return a->f;
}

std::string Node::attr_string(const std::string& n, const std::string& def) const {
  const Attribute* a = find_attr(n);
  if (!a) return def;
  if (a->kind != Attribute::Kind::String) wrong_kind(*this, n, *a, "string");
  return a->s;
}

std::vector<int64_t> Node::attr_ints(const std::string& n, std::vector<int64_t> def) const {
  const Attribute* a = find_attr(n);
  if (!a) return def;
  if (a->kind != Attribute::Kind::Ints) wrong_kind(*this, n, *a, "ints");
  return a->ints;
}

std::vector<float> Node::attr_floats(const std::string& n, std::vector<float> def) const {
  const Attribute* a = find_attr(n);
  if (!a) return def;
  if (a->kind != Attribute::Kind::Floats) wrong_kind(*this, n, *a, "floats");
  return a->floats;
}

const Tensor* Node::attr_tensor(const std::string& n) const {
  const Attribute* a = find_attr(n);
  if (!a) return nullptr;
  if (a->kind != Attribute::Kind::Tensor) wrong_kind(*this, n, *a, "tensor");
  return &a->t;
}

Value* Graph::value(const std::string& n) {
  auto it = by_name_.find(n);
  if (it != by_name_.end()) return it->second;
  auto v = std::make_unique<Value>();
  v->id = static_cast<int>(values_.size());
  v->name = n;
  Value* raw = v.get();
  values_.push_back(std::move(v));
  by_name_[n] = raw;
  return raw;
}

Value* Graph::find_value(const std::string& n) const {
  auto it = by_name_.find(n);
  return it == by_name_.end() ? nullptr : it->second;
}

Node* Graph::add_node(std::string op_type, std::string domain, std::string name) {
  auto node = std::make_unique<Node>();
  node->id = static_cast<int>(nodes_.size());
  node->op_type = std::move(op_type);
  node->domain = std::move(domain);
  node->name = name.empty() ? node->op_type + "_" + std::to_string(node->id) : std::move(name);
  auto it = opsets.find(node->domain);
  node->opset = it == opsets.end() ? 0 : it->second;
  nodes_.push_back(std::move(node));
  return nodes_.back().get();
}

void Graph::remove_node(Node* n) {
  for (size_t i = 0; i < nodes_.size(); ++i) {
    if (nodes_[i].get() == n) {
      nodes_.erase(nodes_.begin() + static_cast<std::ptrdiff_t>(i));
      break;
    }
  }
  order_.clear();
  for (size_t i = 0; i < nodes_.size(); ++i) nodes_[i]->id = static_cast<int>(i);
}

std::string Graph::unique_name(const std::string& hint) const {
  if (!by_name_.count(hint)) return hint;
  for (int i = 1;; ++i) {
    std::string candidate = hint + "_" + std::to_string(i);
    if (!by_name_.count(candidate)) return candidate;
  }
}

Value* Graph::add_constant(const std::string& hint, Tensor t) {
  Value* v = value(unique_name(hint));
  v->dtype = t.dtype();
  v->shape = Shape::of(t.shape());
  v->constant = std::move(t);
  return v;
}

void Graph::replace_uses(Value* from, Value* to) {
  for (auto& n : nodes_)
    for (Value*& in : n->inputs)
      if (in == from) in = to;
}

void Graph::prune() {
  std::vector<char> used(values_.size(), 0);
  for (auto& n : nodes_) {
    for (Value* v : n->inputs)
      if (v) used[v->id] = 1;
    for (Value* v : n->outputs)
      if (v) used[v->id] = 1;
  }
  for (Value* v : inputs) used[v->id] = 1;
  for (Value* v : outputs) used[v->id] = 1;
  std::vector<std::unique_ptr<Value>> kept;
  for (auto& v : values_) {
    if (used[v->id]) {
      kept.push_back(std::move(v));
    } else {
      by_name_.erase(v->name);
    }
  }
  values_ = std::move(kept);
  for (size_t i = 0; i < values_.size(); ++i) values_[i]->id = static_cast<int>(i);
  for (size_t i = 0; i < nodes_.size(); ++i) nodes_[i]->id = static_cast<int>(i);
}

void Graph::finalize() {
  for (auto& v : values_) {
    v->producer = nullptr;
    v->consumers.clear();
    v->is_graph_input = false;
    v->is_graph_output = false;
  }
  for (Value* v : inputs) v->is_graph_input = true;
  for (Value* v : outputs) v->is_graph_output = true;

  for (auto& n : nodes_) {
    for (Value* out : n->outputs) {
      if (!out) continue;
      if (out->producer)
        throw Error(n->describe() + ": output '" + out->name + "' is already produced by " +
                    out->producer->describe());
      if (out->is_graph_input || out->constant)
        throw Error(n->describe() + ": output '" + out->name + "' is also a graph input or initializer");
      out->producer = n.get();
    }
  }
  for (auto& n : nodes_) {
    for (size_t i = 0; i < n->inputs.size(); ++i) {
      Value* in = n->inputs[i];
      if (!in) continue;
      if (!in->producer && !in->is_graph_input && !in->constant)
        throw Error(n->describe() + ": input " + std::to_string(i) + " '" + in->name +
                    "' is not produced by any node, graph input or initializer");
      in->consumers.push_back(n.get());
    }
  }
  for (Value* v : outputs) {
    if (!v->producer && !v->is_graph_input && !v->constant)
      throw Error("graph output '" + v->name + "' is not produced by any node, graph input or initializer");
  }

  // Kahn's algorithm, stable in file order.
  std::vector<int> pending(nodes_.size(), 0);
  for (auto& n : nodes_)
    for (Value* in : n->inputs)
      if (in && in->producer) ++pending[n->id];
  std::deque<Node*> ready;
  for (auto& n : nodes_)
    if (pending[n->id] == 0) ready.push_back(n.get());
  order_.clear();
  std::vector<char> done(nodes_.size(), 0);
  while (!ready.empty()) {
    Node* n = ready.front();
    ready.pop_front();
    order_.push_back(n);
    done[n->id] = 1;
    for (Value* out : n->outputs) {
      if (!out) continue;
      for (Node* c : out->consumers) {
        // A consumer may use the same value twice; count each use.
        for (Value* in : c->inputs)
          if (in == out && --pending[c->id] == 0) ready.push_back(c);
      }
    }
  }
  if (order_.size() != nodes_.size()) {
    for (auto& n : nodes_)
      if (!done[n->id]) throw Error("the graph has a cycle through " + n->describe());
  }
}

}  // namespace kiln::ir
