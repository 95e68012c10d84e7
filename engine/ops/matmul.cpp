#include "ops/op_util.h"

namespace kiln::ops {

void register_matmul_ops(OpRegistry&) {}

}  // namespace kiln::ops
