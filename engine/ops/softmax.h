// Private to the reduce family: Softmax and LogSoftmax register through
// register_reduce_ops (reduce.cpp).
#pragma once

namespace kiln::ops {

class OpRegistry;

void register_softmax_ops(OpRegistry& r);  // softmax.cpp

}  // namespace kiln::ops
