// Shared by the epilogue fusion passes.
#pragma once

#include <string>
#include <vector>

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

// Every element of v is x (true for an empty v).
bool all_equal(const std::vector<int64_t>& v, int64_t x);
// The Conv is 1×1 (its weight's spatial dims, of `rank` − 2 of them when
// rank > 0), stride 1 and unpadded: the same affine map at every pixel.
// Otherwise false, with why not in `why` ("its kernel is not 1×1", "it is
// padded", "it is strided").
bool conv_is_pointwise(const ir::Node& conv, std::string* why, size_t rank = 0);

}  // namespace kiln::passes
