// Where: output = condition ? X : Y elementwise, the three inputs broadcast
// together (numpy rules). Selection only copies elements, so it works on any
// fixed-size dtype by moving bytes of that size.
#include "ops/elementwise_internal.h"

namespace kiln::ops::elementwise {

namespace {

template <class Bits>
void select(const Tensor& cond, const Tensor& x, const Tensor& y, Tensor& out) {
  ternary_apply(cond.data_as<uint8_t>(), cond.shape(), x.data_as<Bits>(), x.shape(), y.data_as<Bits>(), y.shape(),
                out.data_as<Bits>(), out.shape(), [](uint8_t c, Bits a, Bits b) { return c ? a : b; });
}

}  // namespace

void register_where(OpRegistry& r) {
  OpSchema s;
  s.op_type = "Where";
  s.since_version = 9;
  s.min_inputs = s.max_inputs = 3;
  s.infer = [](InferContext& ctx) {
    check_dtype(ctx, 0, kBool);
    if (!dtype_is_supported(ctx.input(1).dtype))
      ctx.fail("input 1 has dtype " + dtype_name(ctx.input(1).dtype) + ", which kiln does not support");
    require_same_dtype(ctx, 1, 2);
    ctx.set_output(0, ctx.input(1).dtype, broadcast_inputs(ctx));
  };
  s.compute = [](ComputeContext& ctx) {
    std::vector<int64_t> out_shape = broadcast_inputs(ctx);
    const Tensor& cond = ctx.input(0);
    const Tensor& x = ctx.input(1);
    const Tensor& y = ctx.input(2);
    Tensor& out = ctx.allocate_output(0, x.dtype(), out_shape);
    switch (dtype_size(x.dtype())) {
      case 1: select<uint8_t>(cond, x, y, out); break;
      case 2: select<uint16_t>(cond, x, y, out); break;
      case 4: select<uint32_t>(cond, x, y, out); break;
      case 8: select<uint64_t>(cond, x, y, out); break;
      default: ctx.fail("dtype " + dtype_name(x.dtype()) + " is not supported");
    }
  };
  r.add(std::move(s));
}

}  // namespace kiln::ops::elementwise
