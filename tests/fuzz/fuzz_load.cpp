#include "fuzz/fuzz_load.h"

#include <vector>

#include "kiln/kiln.h"

namespace kiln::fuzz {

namespace {

// Tight limits keep every execution small and fast: the fuzzer looks for
// crashes, not for out-of-memory on purpose-built giant tensors (which the
// limits turn into errors, and which the limits are themselves tested for).
SessionOptions fuzz_options() {
  SessionOptions o;
  o.threads = 1;
  o.max_initializer_bytes = uint64_t{1} << 22;
  o.max_tensor_elements = uint64_t{1} << 18;
  o.max_rank = 8;
  o.max_nodes = 512;
  return o;
}

// Inputs of the declared shapes filled with zeros, or false when a shape is
// unknown, symbolic or too large to be worth a run.
bool zero_inputs(const Session& s, std::vector<Tensor>& inputs) {
  constexpr int64_t kMaxInputElements = int64_t{1} << 16;
  for (const TensorInfo& info : s.inputs()) {
    if (!info.has_shape) return false;
    int64_t n = 1;
    for (int64_t d : info.shape) {
      if (d < 0 || d > kMaxInputElements) return false;
      n *= d;
      if (n > kMaxInputElements) return false;
    }
    inputs.emplace_back(info.dtype, info.shape);
  }
  return true;
}

}  // namespace

void load_and_run(const uint8_t* data, size_t size) {
  const SessionOptions options = fuzz_options();
  try {
    Session s = Session::load_from_bytes(data, size, options);
    std::vector<Tensor> inputs;
    if (zero_inputs(s, inputs)) s.run(inputs);
  } catch (const Error&) {
    // A clean refusal is a correct outcome.
  }
}

}  // namespace kiln::fuzz
