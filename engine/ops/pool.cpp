#include "ops/op_util.h"

namespace kiln::ops {

void register_pool_ops(OpRegistry&) {}

}  // namespace kiln::ops
