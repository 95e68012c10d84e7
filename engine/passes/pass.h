// Graph passes: rewrites of the IR that keep every output the same (up to
// float rounding), run by run_passes() to a fixed point. Each pass records
// what it did and what it refused, and why.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "ir/graph.h"
#include "kiln/kiln.h"

namespace kiln::passes {

struct PassContext {
  explicit PassContext(ir::Graph& g) : graph(g) {}
  ir::Graph& graph;

  // The latest decision per node (passes run repeatedly; a node's final
  // decision is what the report shows). Kept in first-seen order.
  void decide(const ir::Node& node, const std::string& action, const std::string& reason = "");
  void warn(const std::string& message);
  bool has_decision(const ir::Node& node) const { return decision_index_.count(node.name) != 0; }
  // The reason recorded for `node`, or "".
  std::string reason_for(const ir::Node& node) const {
    auto it = decision_index_.find(node.name);
    return it == decision_index_.end() ? "" : report.decisions[it->second].reason;
  }

  FusionReport report;

 private:
  std::map<std::string, size_t> decision_index_;
};

// Calls try_rewrite on nodes in topological order; after each rewrite (it
// returned true) the graph is re-finalized and the scan starts over, until a
// whole scan rewrites nothing. Returns whether anything was rewritten.
bool rewrite_each(PassContext& ctx, const std::function<bool(ir::Node*)>& try_rewrite);

// Each pass sweeps the graph once and returns true when it changed it.
// The graph is finalized (producers/consumers valid) when a pass starts.
bool fold_constants(PassContext& ctx);
bool remove_identities(PassContext& ctx);
bool fold_batchnorm_into_conv(PassContext& ctx);
bool fold_batchnorm_into_gemm(PassContext& ctx);
bool fold_batchnorm_into_following(PassContext& ctx);
bool pool_before_pointwise_conv(PassContext& ctx);
bool fuse_residual_adds(PassContext& ctx);
bool fuse_activations(PassContext& ctx);
bool fold_batchnorm_into_conv_input(PassContext& ctx);

// Runs the passes to a fixed point. `graph` must have been prepared
// (dtypes/shapes inferred); it is re-finalized as passes change it.
FusionReport run_passes(ir::Graph& graph, const SessionOptions& options);

}  // namespace kiln::passes
