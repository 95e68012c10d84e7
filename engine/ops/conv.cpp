#include "ops/op_util.h"

namespace kiln::ops {

void register_conv_ops(OpRegistry&) {}

}  // namespace kiln::ops
