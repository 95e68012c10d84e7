// Moves an average pool in front of the pointwise (1×1) convolution it reads:
//
//   AveragePool(Conv1×1(x))  becomes  Conv1×1(AveragePool(x))
//   GlobalAveragePool(Conv1×1(x))  likewise
//
// A 1×1 convolution with stride 1 and no padding is the same affine map
// y[:, p] = W·x[:, p] + b at every pixel p, and an unpadded average pool is a
// weighted sum over each window whose weights add up to 1, so the two
// commute: avg_p(W·x_p + b) = W·avg_p(x_p) + b. Only float rounding changes.
// The convolution then runs on the pooled pixels — DenseNet's transition
// layers (Conv 1×1 then AveragePool 2×2/2) do a quarter of their
// multiply-adds — while the pool reads the convolution's input channels
// instead of its output channels, which costs far less than the saving.
//
// Refused: a pool that averages padding zeros in (count_include_pad = 1 with
// pads: the convolution's output would be padded with 0, not with W·0 + b),
// ceil_mode (windows that run past the input), a pool that does not shrink
// the map by at least 2 (no saving), a convolution with an activation, a
// residual, padding or strides, and a convolution output anything else reads.
#include "passes/fusion_util.h"

namespace kiln::passes {

namespace {

constexpr const char* kMoved = "a 1×1 convolution commutes with an average; it now runs on the pooled map";

// The pool's geometry allows the swap; why not otherwise.
bool pool_commutes(const ir::Node& pool, std::string* why) {
  if (pool.op_type == "GlobalAveragePool") return true;
  const std::string pad = pool.attr_string("auto_pad", "NOTSET");
  if (pad != "NOTSET" && pad != "VALID") return *why = "it pads (auto_pad " + pad + ")", false;
  const std::vector<int64_t> kernel = pool.attr_ints("kernel_shape"), pads = pool.attr_ints("pads");
  if (!all_equal(pads, 0)) {
    // Padding is fine when the average counts only the input's elements (the
    // weights of every window still add up to 1) and no window is all padding.
    if (pool.attr_int("count_include_pad", 0) != 0) return *why = "it averages padding zeros in", false;
    for (size_t i = 0; i < pads.size(); ++i)
      if (kernel.empty() || pads[i] >= kernel[i % kernel.size()]) return *why = "a window can be all padding", false;
  }
  if (pool.attr_int("ceil_mode", 0) != 0) return *why = "ceil_mode windows run past the input", false;
  std::vector<int64_t> strides = pool.attr_ints("strides");
  if (strides.empty()) strides.assign(kernel.size(), 1);
  int64_t shrink = 1;
  for (int64_t s : strides) shrink *= s;
  if (shrink < 2) return *why = "its strides do not shrink the map, so the convolution would not get cheaper", false;
  return true;
}

bool try_swap(PassContext& ctx, ir::Node* pool) {
  if (!pool->domain.empty() || (pool->op_type != "AveragePool" && pool->op_type != "GlobalAveragePool")) return false;
  ir::Value* c = pool->inputs.empty() ? nullptr : pool->inputs[0];
  ir::Node* conv = c ? c->producer : nullptr;
  if (!conv || !pool->has_output(0) || pool->outputs.size() != 1) return false;
  if (conv->op_type != "Conv" || !conv->domain.empty()) return false;  // a fused one has an epilogue
  ir::Value* x = conv->inputs[0];
  ir::Value* y = pool->outputs[0];
  std::string why;
  auto refuse = [&](const std::string& reason) {
    if (ctx.reason_for(*pool).rfind(kMoved, 0) == 0) return false;  // moved already; this is the next producer
    ctx.decide(*pool, "kept", "cannot move before Conv '" + conv->name + "': " + reason);
    return false;
  };
  if (c->is_graph_output) return refuse("the Conv output is also a graph output");
  if (c->consumers.size() != 1) return refuse("the Conv output has other readers");
  if (c->dtype != DType::Float32) return refuse("not float32");
  if (!pool_commutes(*pool, &why)) return refuse(why);
  if (!conv_is_pointwise(*conv, &why)) return refuse(why);
  if (!x->shape.known || !y->shape.known || x->shape.rank() != y->shape.rank() || x->shape.rank() < 3)
    return refuse("the shapes around it are not known");

  // x → pool → t → conv → y.
  ir::Value* t = ctx.graph.value(ctx.graph.unique_name(y->name + ".pooled_input"));
  t->dtype = x->dtype;
  t->shape = y->shape;
  t->shape.dims[1] = x->shape.dims[1];
  pool->inputs[0] = x;
  pool->outputs[0] = t;
  conv->inputs[0] = t;
  conv->outputs[0] = y;
  ctx.decide(*pool, "moved before Conv '" + conv->name + "'", kMoved);
  return true;
}

}  // namespace

bool pool_before_pointwise_conv(PassContext& ctx) {
  return rewrite_each(ctx, [&](ir::Node* n) { return try_swap(ctx, n); });
}

}  // namespace kiln::passes
