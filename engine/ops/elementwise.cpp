#include "ops/op_util.h"

namespace kiln::ops {

void register_elementwise_ops(OpRegistry&) {}

}  // namespace kiln::ops
