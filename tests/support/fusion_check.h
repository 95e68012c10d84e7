// For pass tests: build a session twice (fusion on and off) from one model and
// compare them on the same random inputs.
#pragma once

#include <memory>
#include <string>

#include "ir/graph.h"
#include "kiln/kiln.h"
#include "passes/pass.h"
#include "support/model_builder.h"

namespace kiln::test {

struct FusionResult {
  FusionReport report;
  double max_abs_diff = 0;  // fused vs unfused, over every output
  std::unique_ptr<ir::Graph> graph;  // the graph after the passes
  int count(const std::string& op_type) const;
  // The decision recorded for node `name` ("" when none).
  std::string action(const std::string& name) const;
  std::string reason(const std::string& name) const;
};

// Runs fused and unfused sessions on seeded random float inputs (free dims
// taken as 2) and the passes on the loaded graph for inspection.
FusionResult check_fusion(const ModelBuilder& model, const SessionOptions& base = {});

}  // namespace kiln::test
