#include "ops/op_util.h"

namespace kiln::ops {

void register_reduce_ops(OpRegistry&) {}

}  // namespace kiln::ops
