// Small graph pieces shared by the pass tests.
#pragma once

#include <string>

#include "support/fusion_check.h"
#include "support/test_util.h"

namespace kiln::test {

// Adds BatchNormalization(x) → y with non-trivial constant parameters of C
// channels (gamma, beta, mean ≠ 0; var in [0.5, 1.5]). Returns the node.
inline onnx::NodeProto& add_batchnorm(ModelBuilder& b, const std::string& x, const std::string& y, int64_t c,
                                      uint32_t seed, const std::string& name = "bn") {
  b.initializer(name + ".scale", random_f32({c}, seed, 0.5f, 1.5f));
  b.initializer(name + ".bias", random_f32({c}, seed + 1, -0.5f, 0.5f));
  b.initializer(name + ".mean", random_f32({c}, seed + 2, -0.5f, 0.5f));
  b.initializer(name + ".var", random_f32({c}, seed + 3, 0.5f, 1.5f));
  return b.node("BatchNormalization", {x, name + ".scale", name + ".bias", name + ".mean", name + ".var"}, {y}, name);
}

}  // namespace kiln::test
