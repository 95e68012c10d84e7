#include "runtime/executor.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <set>
#include <string>

#include "runtime/memory_plan.h"
#include "runtime/parallel.h"
#include "runtime/prepare.h"

namespace kiln::runtime {

namespace {

std::atomic<uint64_t> g_arena_allocations{0};

// Ops whose kernels compute y[i] from the inputs at the same (or a broadcast)
// index, reading before writing and writing every element: their output may
// take over the buffer of an input of the same shape that dies there.
bool is_elementwise(const ir::Node& n) {
  static const std::set<std::string> ops = {
      "Relu", "LeakyRelu", "Elu",  "Selu", "Celu",  "Sigmoid", "Tanh",       "Erf",   "Softplus",
      "Softsign", "HardSigmoid", "HardSwish", "Gelu", "Mish", "Sqrt", "Exp", "Log", "Reciprocal",
      "Floor", "Ceil", "Neg", "Abs", "Add", "Sub", "Mul", "Div", "Clip"};
  return n.domain.empty() && n.outputs.size() == 1 && ops.count(n.op_type) != 0;
}

// One run's arena: raw, uninitialised memory (ops write every element of
// what allocate_output hands out; allocate_output_zeroed zeroes it).
struct ArenaBuffer {
  explicit ArenaBuffer(size_t bytes) : size(bytes) {
    data = static_cast<char*>(std::aligned_alloc(kArenaAlignment, std::max(bytes, kArenaAlignment)));
    if (!data) throw Error("out of memory allocating a " + std::to_string(bytes) + "-byte arena");
    g_arena_allocations.fetch_add(1, std::memory_order_relaxed);
  }
  ~ArenaBuffer() { std::free(data); }
  ArenaBuffer(const ArenaBuffer&) = delete;
  ArenaBuffer& operator=(const ArenaBuffer&) = delete;
  bool contains(const void* p) const {
    auto c = static_cast<const char*>(p);
    return c >= data && c < data + size;
  }
  char* data;
  size_t size;
};

std::string qualified_op(const ir::Node& n) { return n.domain.empty() ? n.op_type : n.domain + "." + n.op_type; }

}  // namespace

// What the first run with a given input-shape signature saw, per value id.
struct Executor::Recording {
  std::vector<size_t> bytes;
  std::vector<DType> dtype;
  std::vector<std::vector<int64_t>> shape;
  std::vector<int> alias_of;  // the node input whose storage this output shares, or -1
  std::vector<char> at_start;  // no view, or a view starting where its group's storage starts
  std::vector<int> def_step;  // -1: not produced by a step
};

// Arena offsets per value for one signature, and a pool of arenas so that
// concurrent runs never share one.
struct Executor::Plan {
  std::vector<int64_t> offset;  // per value id; -1: not in the arena (views, graph outputs, inputs)
  std::vector<size_t> capacity;
  std::vector<char> zero;
  size_t bytes = 0;

  std::mutex mutex;
  std::vector<std::unique_ptr<ArenaBuffer>> pool;

  std::unique_ptr<ArenaBuffer> acquire() {
    {
      std::lock_guard<std::mutex> lock(mutex);
      if (!pool.empty()) {
        auto a = std::move(pool.back());
        pool.pop_back();
        return a;
      }
    }
    return std::make_unique<ArenaBuffer>(bytes);
  }
  void give_back(std::unique_ptr<ArenaBuffer> a) {
    std::lock_guard<std::mutex> lock(mutex);
    pool.push_back(std::move(a));
  }
};

uint64_t Executor::arena_allocations() { return g_arena_allocations.load(std::memory_order_relaxed); }

Executor::Executor(const ir::Graph& graph, std::vector<const ops::OpSchema*> schemas, int threads, bool memory_plan,
                   uint64_t max_tensor_elements)
    : graph_(graph), threads_(threads), memory_plan_(memory_plan), max_tensor_elements_(max_tensor_elements) {
  last_use_.assign(graph.values().size(), -1);
  for (const ir::Node* n : graph.order()) {
    Step s{n, schemas[n->id], {}, {}, {}, {}, nullptr, is_elementwise(*n)};
    for (const ir::Value* v : n->inputs) {
      s.inputs.push_back(v ? v->id : -1);
      s.constants.push_back(v && v->constant ? &*v->constant : nullptr);
    }
    for (const ir::Value* v : n->outputs) s.outputs.push_back(v ? v->id : -1);
    for (const ir::Value* v : n->inputs)
      if (v) last_use_[v->id] = static_cast<int>(steps_.size());
    for (const ir::Value* v : n->outputs)
      if (v && last_use_[v->id] < 0) last_use_[v->id] = static_cast<int>(steps_.size());  // unused outputs die at once
    steps_.push_back(std::move(s));
  }
  prepare_steps();
  std::vector<int> release_at = last_use_;
  for (const ir::Value* v : graph.outputs) {
    release_at[v->id] = -1;  // graph outputs live to the end
    last_use_[v->id] = static_cast<int>(steps_.size());
  }
  for (const auto& v : graph.values())
    if (release_at[v->id] >= 0 && !v->constant && !v->is_graph_input) steps_[release_at[v->id]].release.push_back(v->id);
}

Executor::~Executor() = default;

// Each op's prepare (weight packing, Winograd transforms) depends only on its
// own node, so the steps are shared out among the session's threads, which
// claim them one at a time (their costs differ by orders of magnitude). A
// failure is reported for the first failing step in graph order, whatever
// the thread timing.
void Executor::prepare_steps() {
  std::vector<size_t> todo;
  for (size_t i = 0; i < steps_.size(); ++i)
    if (steps_[i].schema->prepare) todo.push_back(i);
  std::vector<std::exception_ptr> errors(todo.size());
  std::atomic<size_t> next{0};
  auto work = [&](int64_t, int64_t) {
    for (size_t k; (k = next.fetch_add(1, std::memory_order_relaxed)) < todo.size();) {
      Step& s = steps_[todo[k]];
      try {
        ops::InferContext ictx(*s.node, input_infos(*s.node), s.node->outputs.size());
        s.state = s.schema->prepare(ictx);
      } catch (...) {
        errors[k] = std::current_exception();
      }
    }
  };
  const int64_t workers = std::min<int64_t>(std::max(1, threads_), static_cast<int64_t>(todo.size()));
  parallel_for(workers, 1, work);
  for (const auto& e : errors)
    if (e) std::rethrow_exception(e);
}

std::shared_ptr<Executor::Plan> Executor::find_plan(const Signature& sig) const {
  std::lock_guard<std::mutex> lock(plans_mutex_);
  auto it = plans_.find(sig);
  return it == plans_.end() ? nullptr : it->second;
}

std::shared_ptr<Executor::Plan> Executor::make_plan(const Recording& rec) const {
  const size_t nv = graph_.values().size();
  // Storage groups: a view belongs to the group of the input it views; an
  // in-place output joins the group of the input it overwrites.
  std::vector<int> parent(nv);
  for (size_t v = 0; v < nv; ++v) parent[v] = rec.alias_of[v] >= 0 ? rec.alias_of[v] : static_cast<int>(v);
  auto find = [&](int v) {
    while (parent[v] != v) v = parent[v];
    return v;
  };
  // Groups whose storage the arena may hold: produced by a step, not a graph
  // output (those are handed to the caller), not an input or a constant.
  auto internal = [&](int r) {
    const ir::Value& v = *graph_.values()[r];
    return rec.def_step[r] >= 0 && !v.is_graph_output && !v.is_graph_input && !v.constant;
  };
  std::vector<int> last(nv, -1);
  for (size_t v = 0; v < nv; ++v) {
    if (rec.def_step[v] < 0) continue;
    int r = find(static_cast<int>(v));
    last[r] = std::max(last[r], last_use_[v]);
  }
  std::vector<char> in_place(nv, 0);
  for (size_t si = 0; si < steps_.size(); ++si) {
    const Step& s = steps_[si];
    if (!s.elementwise || s.outputs[0] < 0) continue;
    int o = s.outputs[0];
    if (!internal(o) || find(o) != o) continue;
    for (size_t k = 0; k < s.inputs.size(); ++k) {
      int x = s.inputs[k];
      if (x < 0) continue;
      int r = find(x);
      if (!internal(r) || last[r] != static_cast<int>(si) || !rec.at_start[x]) continue;
      if (rec.dtype[x] != rec.dtype[o] || rec.shape[x] != rec.shape[o]) continue;
      // Another input reading the same storage under another shape would see
      // elements already overwritten.
      bool shared = false;
      for (int y : s.inputs) shared = shared || (y >= 0 && y != x && find(y) == r);
      if (shared) continue;
      parent[o] = r;
      last[r] = std::max(last[r], last[o]);
      in_place[o] = 1;
      break;
    }
  }

  // Concat in place: where a concatenation's inputs are contiguous runs of
  // its output (everything before the axis has size 1, e.g. channels of one
  // image), an input whose storage dies at the Concat is planned inside the
  // output at its run's offset, so its producer writes it there and the
  // Concat finds it in place (ops/concat_split.cpp skips that copy). Its
  // group joins the output's, whose storage then lives from the first such
  // input's step. Chains nest: DenseNet's concatenation of concatenations
  // keeps each block's features in one buffer, each layer's output a prefix.
  std::vector<int64_t> delta(nv, 0);  // byte offset inside the parent's storage
  std::vector<char> concat_out(nv, 0);
  // The output of a Concat step whose inputs lie back to back in it (every
  // dim before the axis has size 1) and whose storage the arena holds; -1 if not.
  auto flat_concat = [&](const Step& s) {
    if (s.node->op_type != "Concat" || !s.node->domain.empty() || s.outputs.empty() || s.outputs[0] < 0) return -1;
    const int o = s.outputs[0];
    if (!internal(o) || find(o) != o || rec.alias_of[o] >= 0) return -1;
    const std::vector<int64_t>& shape = rec.shape[o];
    const int64_t rank = static_cast<int64_t>(shape.size());
    int64_t axis = s.node->attr_int("axis", 0);
    if (axis < 0) axis += rank;
    if (axis < 0 || axis >= rank) return -1;
    for (int64_t d = 0; d < axis; ++d)
      if (shape[static_cast<size_t>(d)] != 1) return -1;
    return o;
  };
  for (size_t si = 0; si < steps_.size(); ++si) {
    const Step& s = steps_[si];
    const int o = flat_concat(s);
    if (o < 0) continue;
    int64_t offset = 0;
    for (int x : s.inputs) {
      if (x < 0) break;
      // Recorded for step outputs and graph inputs; constants carry their own.
      const ir::Value& xv = *graph_.values()[static_cast<size_t>(x)];
      const int64_t bytes = static_cast<int64_t>(xv.constant ? xv.constant->nbytes() : rec.bytes[x]);
      const bool once = std::count(s.inputs.begin(), s.inputs.end(), x) == 1;
      if (once && internal(x) && find(x) == x && rec.alias_of[x] < 0 && !in_place[x] &&
          last[x] == static_cast<int>(si) && rec.dtype[x] == rec.dtype[o]) {
        parent[x] = o;
        delta[x] = offset;
        last[o] = std::max(last[o], last[x]);
        concat_out[o] = 1;
      }
      offset += bytes;
    }
  }
  // A member's byte offset from its group root's storage.
  auto offset_in_group = [&](int v) {
    int64_t d = 0;
    while (parent[v] != v) {
      d += delta[v];
      v = parent[v];
    }
    return d;
  };
  // A Concat whose inputs all lie back to back inside one storage group
  // already (DenseNet's per-layer concatenations of the features that the
  // block's last Concat holds) is that stretch of the group: planned there,
  // it finds every input in place and copies nothing.
  std::vector<int> children(nv, 0);
  for (size_t v = 0; v < nv; ++v)
    if (parent[v] != static_cast<int>(v)) ++children[parent[v]];
  for (const Step& s : steps_) {
    const int o = flat_concat(s);
    if (o < 0 || children[o] != 0 || concat_out[o]) continue;
    int root = -1;
    int64_t start = -1, next = -1;
    bool ok = !s.inputs.empty();
    for (int x : s.inputs) {
      if (x < 0 || rec.def_step[x] < 0 || find(x) == x) {
        ok = false;
        break;
      }
      const int r = find(x);
      const int64_t at = offset_in_group(x);
      if ((root >= 0 && r != root) || (next >= 0 && at != next)) {
        ok = false;
        break;
      }
      root = r;
      if (start < 0) start = at;
      next = at + static_cast<int64_t>(rec.bytes[x]);
    }
    if (!ok || next - start != static_cast<int64_t>(rec.bytes[o])) continue;
    parent[o] = root;
    delta[o] = start - offset_in_group(root);
    last[root] = std::max(last[root], last[o]);
    concat_out[o] = 1;
  }
  std::vector<int> first(nv, -1);
  for (size_t v = 0; v < nv; ++v) {
    if (rec.def_step[v] < 0) continue;
    const int r = find(static_cast<int>(v));
    first[r] = first[r] < 0 ? rec.def_step[v] : std::min(first[r], rec.def_step[v]);
  }

  std::vector<BufferRequest> requests;
  std::vector<int> group_of_request;
  std::vector<int> request_of(nv, -1);
  for (size_t v = 0; v < nv; ++v) {
    int r = static_cast<int>(v);
    if (find(r) != r || !internal(r)) continue;
    request_of[r] = static_cast<int>(requests.size());
    requests.push_back({rec.bytes[r], first[r], last[r]});
  }
  ArenaLayout layout = plan_arena(requests);

  auto plan = std::make_shared<Plan>();
  plan->offset.assign(nv, -1);
  plan->capacity.assign(nv, 0);
  plan->zero.assign(nv, 1);
  plan->bytes = layout.total;
  for (size_t v = 0; v < nv; ++v) {
    if (rec.alias_of[v] >= 0) continue;  // views allocate nothing
    int r = find(static_cast<int>(v));
    if (request_of[r] < 0) continue;
    const int64_t d = offset_in_group(static_cast<int>(v));
    plan->offset[v] = static_cast<int64_t>(layout.offsets[request_of[r]]) + d;
    plan->capacity[v] = v == static_cast<size_t>(r) ? rec.bytes[r] : rec.bytes[v];
    // An in-place output, or a Concat whose inputs already sit in it, must
    // not be filled when handed out.
    plan->zero[v] = in_place[v] || concat_out[v] ? 0 : 1;
  }
  return plan;
}

std::vector<Tensor> Executor::run(const std::vector<Tensor>& inputs, std::vector<NodeProfile>* profile) const {
  using Clock = std::chrono::steady_clock;
  const auto run_start = profile ? Clock::now() : Clock::time_point{};
  const size_t nv = graph_.values().size();

  Signature sig;
  std::shared_ptr<Plan> plan;
  if (memory_plan_) {
    sig.reserve(inputs.size());
    for (const Tensor& t : inputs) sig.push_back(t.shape());
    plan = find_plan(sig);
  }
  std::unique_ptr<Recording> rec;
  if (!plan && memory_plan_) {
    rec = std::make_unique<Recording>();
    rec->bytes.assign(nv, 0);
    rec->dtype.assign(nv, DType::Undefined);
    rec->shape.assign(nv, {});
    rec->alias_of.assign(nv, -1);
    rec->def_step.assign(nv, -1);
    rec->at_start.assign(nv, 1);
  }
  // The arena goes back to the plan's pool however the run ends.
  struct ArenaLease {
    Plan* plan;
    std::unique_ptr<ArenaBuffer> buffer;
    ~ArenaLease() {
      if (buffer) plan->give_back(std::move(buffer));
    }
  } lease{plan.get(), plan ? plan->acquire() : nullptr};

  std::vector<Tensor> slots(nv);
  for (size_t i = 0; i < graph_.inputs.size(); ++i) {
    const int id = graph_.inputs[i]->id;
    slots[id] = inputs[i];
    if (rec) {  // sizes for the plan's Concat offsets (graph inputs have no step)
      rec->bytes[id] = inputs[i].nbytes();
      rec->dtype[id] = inputs[i].dtype();
      rec->shape[id] = inputs[i].shape();
    }
  }

  auto value_tensor = [&](int id) -> const Tensor* {
    const ir::Value* v = graph_.values()[id].get();
    if (v->constant) return &*v->constant;
    return &slots[id];
  };

  std::vector<Tensor> outs;
  std::vector<ops::PlannedOutput> planned;
  for (size_t si = 0; si < steps_.size(); ++si) {
    const Step& s = steps_[si];
    std::vector<const Tensor*> in(s.inputs.size(), nullptr);
    for (size_t i = 0; i < s.inputs.size(); ++i)
      if (s.inputs[i] >= 0) in[i] = s.constants[i] ? s.constants[i] : &slots[static_cast<size_t>(s.inputs[i])];
    std::vector<const Tensor*> in_copy;
    if (profile || rec) in_copy = in;
    outs.assign(s.outputs.size(), Tensor());
    ops::ComputeContext ctx(*s.node, std::move(in), outs, threads_, s.state.get());
    ctx.set_max_output_elements(max_tensor_elements_);
    const auto node_start = profile ? Clock::now() : Clock::time_point{};
    if (plan) {
      planned.assign(s.outputs.size(), ops::PlannedOutput{});
      for (size_t i = 0; i < s.outputs.size(); ++i) {
        int v = s.outputs[i];
        if (v < 0 || plan->offset[v] < 0) continue;
        planned[i].data = lease.buffer->data + plan->offset[v];
        planned[i].bytes = plan->capacity[v];
        planned[i].zero = plan->zero[v] != 0;
      }
      ops::PlannedOutputScope scope(*s.node, planned.data(), planned.size());
      s.schema->compute(ctx);
    } else {
      s.schema->compute(ctx);
    }
    if (profile) {
      NodeProfile p;
      p.duration_ms = std::chrono::duration<double, std::milli>(Clock::now() - node_start).count();
      p.start_ms = std::chrono::duration<double, std::milli>(node_start - run_start).count();
      p.name = s.node->name;
      p.op_type = qualified_op(*s.node);
      p.kernel = ctx.kernel();
      for (const Tensor* t : in_copy)
        if (t) p.input_shapes.push_back(t->shape());
      for (const Tensor& t : outs)
        if (!t.empty()) p.output_shapes.push_back(t.shape());
      if (s.schema->flops) p.flops = s.schema->flops(*s.node, in_copy, outs);
      profile->push_back(std::move(p));
    }
    for (size_t i = 0; i < s.outputs.size(); ++i) {
      if (s.outputs[i] < 0) continue;
      const ir::Value* v = graph_.values()[s.outputs[i]].get();
      Tensor& t = outs[i];
      if (t.empty()) throw Error(s.node->describe() + ": produced no tensor for output '" + v->name + "' (internal error)");
      // Cheap consistency checks between inference and computation: a
      // mismatch is a kiln bug and must not pass silently.
      if (t.dtype() != v->dtype)
        throw Error(s.node->describe() + ": output '" + v->name + "' computed as " + dtype_name(t.dtype()) +
                    " but inferred as " + dtype_name(v->dtype) + " (internal error)");
      if (v->shape.known) {
        bool ok = v->shape.rank() == t.rank();
        for (size_t d = 0; ok && d < t.rank(); ++d) ok = v->shape.dims[d] < 0 || v->shape.dims[d] == t.shape()[d];
        if (!ok)
          throw Error(s.node->describe() + ": output '" + v->name + "' computed with shape " +
                      shape_to_string(t.shape()) + " but the graph says " + v->shape.str());
      }
      if (rec) {
        int id = s.outputs[i];
        rec->bytes[id] = t.nbytes();
        rec->dtype[id] = t.dtype();
        rec->shape[id] = t.shape();
        rec->def_step[id] = static_cast<int>(si);
        // A view: its data lies inside an input's storage.
        const char* d = static_cast<const char*>(t.data());
        for (size_t k = 0; k < in_copy.size() && t.nbytes(); ++k) {
          const Tensor* x = in_copy[k];
          if (!x || !x->nbytes()) continue;
          const char* b = static_cast<const char*>(x->data());
          if (d >= b && d < b + x->nbytes()) {
            rec->alias_of[id] = s.inputs[k];
            rec->at_start[id] = d == b && rec->at_start[s.inputs[k]];
            break;
          }
        }
      }
      slots[s.outputs[i]] = std::move(t);
    }
    for (int id : s.release) slots[id] = Tensor();
  }

  std::vector<Tensor> result;
  result.reserve(graph_.outputs.size());
  // A graph output that is a model constant or a graph input would otherwise
  // share storage with it: the caller could write into the model or its own
  // input through the output. Those are copied, and so is anything that still
  // points into the arena (which the next run reuses).
  for (const ir::Value* v : graph_.outputs) {
    const Tensor& t = *value_tensor(v->id);
    bool in_arena = lease.buffer && t.nbytes() && lease.buffer->contains(t.data());
    result.push_back(v->constant || v->is_graph_input || in_arena ? t.clone() : t);
  }

  if (rec) {
    std::shared_ptr<Plan> made = make_plan(*rec);
    std::lock_guard<std::mutex> lock(plans_mutex_);
    // Bound the cache: a server fed ever-new shapes must not grow without
    // end. Plans in use stay alive through their shared_ptr.
    constexpr size_t kMaxPlans = 16;
    if (plans_.size() >= kMaxPlans && !plans_.count(sig)) plans_.erase(plans_.begin());
    plans_.emplace(sig, std::move(made));
  }
  return result;
}

}  // namespace kiln::runtime
