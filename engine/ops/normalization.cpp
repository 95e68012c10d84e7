#include "ops/op_util.h"

namespace kiln::ops {

void register_normalization_ops(OpRegistry&) {}

}  // namespace kiln::ops
