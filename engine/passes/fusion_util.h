// Shared by the epilogue fusion passes.
#pragma once

#include <string>

#include "ops/fused.h"
#include "passes/pass.h"

namespace kiln::passes {

// The base op of a node that can take an epilogue ("Conv" for Conv and
// kiln.FusedConv), or "" when it cannot.
std::string epilogue_base(const ir::Node& n);
// Turns a default-domain base op into its kiln.Fused<Op> form (no-op when it
// already is one).
void make_fused(ir::Node& n);
bool has_activation(const ir::Node& n);
void set_attr(ir::Node& n, const std::string& name, const std::string& v);
void set_attr(ir::Node& n, const std::string& name, float v);
void set_attr(ir::Node& n, const std::string& name, int64_t v);

}  // namespace kiln::passes
