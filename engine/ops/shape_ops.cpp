#include "ops/op_util.h"

namespace kiln::ops {

void register_shape_ops(OpRegistry&) {}

}  // namespace kiln::ops
