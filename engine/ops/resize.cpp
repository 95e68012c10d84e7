#include "ops/op_util.h"

namespace kiln::ops {

void register_resize_ops(OpRegistry&) {}

}  // namespace kiln::ops
