// Shared by kiln's tests: tensor comparison, tensor construction, tiny-graph building.
#pragma once

#include <string>
#include <vector>

#include "kiln/kiln.h"

namespace kiln::test {

// Compares elementwise with |got - want| <= atol + rtol*|want| (NaN equals NaN).
// Returns "" when equal, else a description of the first/worst difference.
std::string compare_tensors(const Tensor& got, const Tensor& want, double atol, double rtol);
// Largest |got - want| (NaN-aware: mismatched NaN gives +inf).
double max_abs_diff(const Tensor& got, const Tensor& want);

Tensor make_f32(std::vector<int64_t> shape, std::vector<float> values);
Tensor make_i64(std::vector<int64_t> shape, std::vector<int64_t> values);
// start, start + 1, start + 2, … in row-major order.
Tensor iota_f32(std::vector<int64_t> shape, float start = 0.f);
// Deterministic pseudo-random floats in [lo, hi).
Tensor random_f32(std::vector<int64_t> shape, uint32_t seed, float lo = -1.f, float hi = 1.f);

// Folder with the ONNX backend node tests (env KILN_ONNX_NODE_TESTS overrides
// the compiled-in default); "" if it does not exist.
std::string onnx_node_tests_dir();

}  // namespace kiln::test
