// kiln::Session: load → prepare → run, inside one thread arena per session (runtime/parallel.h).
#include <algorithm>
#include <cstring>
#include <new>
#include <stdexcept>
#include <map>
#include <thread>

#include "core/tensor_stats.h"
#include "ir/graph.h"
#include "kiln/kiln.h"
#include "onnx/loader.h"
#include "onnx/saver.h"
#include "ops/batchnorm_mode.h"
#include "passes/pass.h"
#include "runtime/batch_split.h"
#include "runtime/executor.h"
#include "runtime/parallel.h"
#include "runtime/prepare.h"

namespace kiln {
namespace detail {

class SessionImpl {
 public:
  SessionImpl(std::unique_ptr<ir::Graph> graph, const SessionOptions& options)
      : graph_(std::move(graph)), threads_(resolve_threads(options.threads)) {
    if (options.max_rank < 0 || options.max_nodes < 0) throw Error("SessionOptions: limits must not be negative");
    std::vector<std::string> mode_warnings = ops::apply_batchnorm_mode(*graph_, options.batchnorm_mode);
    auto schemas = runtime::prepare_graph(*graph_);
    if (options.fusion) {
      report_ = passes::run_passes(*graph_, options);
      schemas = runtime::prepare_graph(*graph_);
    } else {
      for (const auto& n : graph_->nodes())
        if (n->op_type == "BatchNormalization" && n->domain.empty()) ++report_.batchnorm_nodes;
    }
    report_.warnings.insert(report_.warnings.begin(), mode_warnings.begin(), mode_warnings.end());
    check_planned_sizes(options);
    if (options.split_batch) split_ = runtime::analyze_batch_split(*graph_, threads_);
    else split_.reason = "turned off (SessionOptions::split_batch)";
    arena_ = std::make_unique<runtime::Arena>(threads_);
    arena_->execute([&] {  // the ops' weight packing runs on the session's threads
      executor_ = std::make_unique<runtime::Executor>(*graph_, std::move(schemas), threads_, options.memory_plan,
                                                      options.max_tensor_elements);
    });
    for (const ir::Value* v : graph_->inputs) inputs_.push_back(info(*v));
    for (const ir::Value* v : graph_->outputs) outputs_.push_back(info(*v));
  }

  const std::vector<TensorInfo>& inputs() const { return inputs_; }
  const std::vector<TensorInfo>& outputs() const { return outputs_; }
  int threads() const { return threads_; }
  const FusionReport& fusion_report() const { return report_; }
  const runtime::BatchSplit& batch_split() const { return split_; }
  const ir::Graph& graph() const { return *graph_; }

  std::vector<Tensor> run(const std::vector<Tensor>& inputs, std::vector<NodeProfile>* profile = nullptr) const {
    validate(inputs);
    std::vector<Tensor> result;
    try {
      arena_->execute([&] {
        const runtime::RunRegion region;  // the session's threads stay awake for the run
        const int64_t images = profile || !split_.per_image ? 0 : batch_of(inputs);
        result = images > 1 ? run_images(inputs, images) : executor_->run(inputs, profile);
      });
    } catch (const std::bad_alloc&) {
      throw Error("out of memory while running the model");
    } catch (const std::length_error& e) {
      throw Error(std::string("a buffer the model needs is too large (") + e.what() + ")");
    }
    return result;
  }

 private:
  static int resolve_threads(int requested) {
    if (requested < 0) throw Error("threads must be >= 0 (0 means all cores), got " + std::to_string(requested));
    if (requested > 0) return requested;
    int n = static_cast<int>(std::thread::hardware_concurrency());
    return n > 0 ? n : 1;
  }

  // The batch size shared by all inputs (their first dimension), or 0 when
  // they differ.
  static int64_t batch_of(const std::vector<Tensor>& inputs) {
    int64_t n = -1;
    for (const Tensor& t : inputs) {
      if (t.rank() == 0) return 0;
      if (n >= 0 && t.shape()[0] != n) return 0;
      n = t.shape()[0];
    }
    return std::max<int64_t>(n, 0);
  }

  // One run per image (see SessionOptions::split_batch): the session's
  // threads each take whole images, as many at once as there are threads;
  // the images left over run one at a time on all threads. Every image runs
  // the same single-image plan, so results do not depend on the thread count.
  std::vector<Tensor> run_images(const std::vector<Tensor>& inputs, int64_t images) const {
    auto image = [&](const Tensor& t, int64_t i) {
      std::vector<int64_t> shape = t.shape();
      shape[0] = 1;
      return detail::subview(t, i * (t.numel() / images), std::move(shape));
    };
    std::vector<std::vector<Tensor>> per(static_cast<size_t>(images));
    auto run_one = [&](int64_t i) {
      std::vector<Tensor> in;
      in.reserve(inputs.size());
      for (const Tensor& t : inputs) in.push_back(image(t, i));
      per[static_cast<size_t>(i)] = executor_->run(in, nullptr);
    };
    const int threads = runtime::concurrency();
    const int64_t together = threads > 1 ? images / threads * threads : 0;
    if (together > 0)
      runtime::parallel_for(together, together / threads, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) run_one(i);
      });
    for (int64_t i = together; i < images; ++i) run_one(i);

    std::vector<Tensor> out;
    for (size_t k = 0; k < outputs_.size(); ++k) {
      const Tensor& first = per[0][k];
      if (first.rank() == 0 || first.shape()[0] != 1)
        throw Error("output '" + outputs_[k].name + "' of a single image has shape " + shape_to_string(first.shape()) +
                    ", not one entry along the batch axis (internal error in the batch split)");
      std::vector<int64_t> shape = first.shape();
      shape[0] = images;
      Tensor y = Tensor::uninitialized(first.dtype(), std::move(shape));
      const size_t bytes = first.nbytes();
      for (int64_t i = 0; i < images; ++i) {
        const Tensor& t = per[static_cast<size_t>(i)][k];
        if (t.shape() != first.shape() || t.dtype() != first.dtype())
          throw Error("output '" + outputs_[k].name + "' has shape " + shape_to_string(t.shape()) + " for image " +
                      std::to_string(i) + " but " + shape_to_string(first.shape()) +
                      " for image 0 (internal error in the batch split)");
        if (bytes) std::memcpy(static_cast<char*>(y.data()) + static_cast<size_t>(i) * bytes, t.data(), bytes);
      }
      out.push_back(std::move(y));
    }
    return out;
  }

  // Every value whose shape is known after inference (constant shapes for
  // ConstantOfShape/Expand/Tile/Resize/Pad, or fixed input shapes) must fit
  // the rank and element limits: refused at load, not at the first run.
  void check_planned_sizes(const SessionOptions& options) const {
    const uint64_t limit = options.max_tensor_elements;
    for (const auto& v : graph_->values()) {
      if (v->shape.known && v->shape.rank() > static_cast<size_t>(options.max_rank))
        throw Error("value '" + v->name + "' has rank " + std::to_string(v->shape.rank()) + ", above the limit of " +
                    std::to_string(options.max_rank) + " (SessionOptions::max_rank)");
      if (!v->shape.fully_known()) continue;
      const auto& dims = v->shape.dims;
      if (std::find(dims.begin(), dims.end(), 0) != dims.end()) continue;  // empty
      // Product compared as n * d > limit  <=>  n > limit / d, never overflowing.
      uint64_t n = 1;
      bool above = false;
      for (int64_t d : dims) {
        if (n > limit / static_cast<uint64_t>(d)) { above = true; break; }
        n *= static_cast<uint64_t>(d);
      }
      if (above)
        throw Error("value '" + v->name + "' has shape " + v->shape.str() + ", more than the limit of " +
                    std::to_string(limit) + " elements (SessionOptions::max_tensor_elements)");
    }
  }

  static TensorInfo info(const ir::Value& v) {
    TensorInfo t;
    t.name = v.name;
    t.dtype = v.dtype;
    t.has_shape = v.shape.known;
    t.shape = v.shape.dims;
    t.dim_names = v.dim_names;
    t.dim_names.resize(t.shape.size());
    return t;
  }

  void validate(const std::vector<Tensor>& inputs) const {
    if (inputs.size() != inputs_.size())
      throw Error("the model takes " + std::to_string(inputs_.size()) + " inputs but " + std::to_string(inputs.size()) +
                  " were given");
    for (size_t i = 0; i < inputs.size(); ++i) {
      const TensorInfo& want = inputs_[i];
      const Tensor& t = inputs[i];
      std::string where = "input " + std::to_string(i) + " '" + want.name + "'";
      if (t.empty()) throw Error(where + ": no tensor given");
      if (t.dtype() != want.dtype)
        throw Error(where + ": expected dtype " + dtype_name(want.dtype) + " but got " + dtype_name(t.dtype()));
      if (t.numel() > 0 && t.data() == nullptr) throw Error(where + ": tensor has no data");
      if (!want.has_shape) continue;
      bool ok = t.rank() == want.shape.size();
      for (size_t d = 0; ok && d < t.rank(); ++d) ok = want.shape[d] < 0 || want.shape[d] == t.shape()[d];
      if (!ok)
        throw Error(where + ": expected shape " + shape_to_string(want.shape) + " but got " + shape_to_string(t.shape()));
    }
  }

  std::unique_ptr<ir::Graph> graph_;
  int threads_;
  std::unique_ptr<runtime::Executor> executor_;
  std::unique_ptr<runtime::Arena> arena_;
  std::vector<TensorInfo> inputs_, outputs_;
  FusionReport report_;
  runtime::BatchSplit split_;
};

}  // namespace detail

Session::Session(std::shared_ptr<const detail::SessionImpl> impl) : impl_(std::move(impl)) {}

namespace {
// Loading allocates what the model asks for (within the limits); running out
// of memory there is reported as an Error like any other refusal.
template <class F>
Session guard_allocation(const std::string& source, F&& load) {
  try {
    return load();
  } catch (const std::bad_alloc&) {
    throw Error(source + ": out of memory while loading the model");
  } catch (const std::length_error& e) {
    throw Error(source + ": a buffer the model needs is too large (" + e.what() + ")");
  }
}
}  // namespace

Session Session::load(const std::string& path, const SessionOptions& options) {
  return guard_allocation(path, [&] {
    auto graph = onnx_import::load_model_file(path, options);
    try {
      return Session(std::make_shared<detail::SessionImpl>(std::move(graph), options));
    } catch (const Error& e) {
      throw Error(path + ": " + e.what());
    }
  });
}

Session Session::load_from_bytes(const void* data, size_t size, const SessionOptions& options,
                                 const std::string& base_dir) {
  return guard_allocation("<model in memory>", [&] {
    auto graph = onnx_import::load_model_bytes(data, size, base_dir, options, "<model in memory>");
    return Session(std::make_shared<detail::SessionImpl>(std::move(graph), options));
  });
}

const std::vector<TensorInfo>& Session::inputs() const { return impl_->inputs(); }
const std::vector<TensorInfo>& Session::outputs() const { return impl_->outputs(); }
int Session::threads() const { return impl_->threads(); }
const FusionReport& Session::fusion_report() const { return impl_->fusion_report(); }
bool Session::splits_batch() const { return impl_->batch_split().per_image; }
const std::string& Session::batch_split_reason() const { return impl_->batch_split().reason; }
void Session::save_optimized(const std::string& path) const { onnx_import::save_model(impl_->graph(), path); }

std::vector<Tensor> Session::run(const std::vector<Tensor>& inputs) const { return impl_->run(inputs); }

std::vector<Tensor> Session::run(const std::vector<std::pair<std::string, Tensor>>& named) const {
  const auto& infos = impl_->inputs();
  std::vector<Tensor> ordered(infos.size());
  std::map<std::string, size_t> index;
  for (size_t i = 0; i < infos.size(); ++i) index[infos[i].name] = i;
  for (const auto& [name, t] : named) {
    auto it = index.find(name);
    if (it == index.end()) throw Error("the model has no input named '" + name + "'");
    if (!ordered[it->second].empty()) throw Error("input '" + name + "' is given twice");
    ordered[it->second] = t;
  }
  for (size_t i = 0; i < infos.size(); ++i)
    if (ordered[i].empty()) throw Error("input '" + infos[i].name + "' is not given");
  return impl_->run(ordered);
}

std::vector<Tensor> Session::run_profiled(const std::vector<Tensor>& inputs, std::vector<NodeProfile>& profile) const {
  profile.clear();
  return impl_->run(inputs, &profile);
}

void Session::run(const std::vector<Tensor>& inputs, std::vector<Tensor>& outputs) const {
  std::vector<Tensor> result = impl_->run(inputs);
  outputs.resize(result.size());
  for (size_t i = 0; i < result.size(); ++i) {
    Tensor& slot = outputs[i];
    if (!slot.empty() && slot.dtype() == result[i].dtype() && slot.shape() == result[i].shape() && slot.data()) {
      if (slot.nbytes()) std::memcpy(slot.data(), result[i].data(), slot.nbytes());
    } else {
      slot = std::move(result[i]);
    }
  }
}

}  // namespace kiln
