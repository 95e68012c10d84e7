// Every op family registers itself here. One function per family; each lives
// in the family's file(s) under engine/ops/.
#pragma once

namespace kiln::ops {

class OpRegistry;

void register_conv_ops(OpRegistry& r);         // Conv, ConvTranspose          (conv.cpp, conv_transpose.cpp)
void register_matmul_ops(OpRegistry& r);       // Gemm, MatMul                 (gemm.cpp, matmul.cpp)
void register_elementwise_ops(OpRegistry& r);  // unary/binary math, compare, Where, variadic, Cast (elementwise.cpp, …)
void register_activation_ops(OpRegistry& r);   // Relu … Gelu, Erf, Clip        (activation.cpp)
void register_normalization_ops(OpRegistry& r);  // BatchNormalization, LRN, Instance/LayerNorm (batchnorm.cpp, …)
void register_pool_ops(OpRegistry& r);         // Max/Average/Global pools     (pool.cpp)
void register_reduce_ops(OpRegistry& r);       // Reduce*, Softmax, LogSoftmax (reduce.cpp, softmax.cpp)
void register_shape_ops(OpRegistry& r);        // Reshape, Transpose, Concat … (shape_ops.cpp, …)
void register_resize_ops(OpRegistry& r);       // Resize, Upsample             (resize.cpp)
void register_fused_ops(OpRegistry& r);        // kiln.Fused<Op> epilogues     (fused.cpp)

inline void register_all_ops(OpRegistry& r) {
  register_conv_ops(r);
  register_matmul_ops(r);
  register_elementwise_ops(r);
  register_activation_ops(r);
  register_normalization_ops(r);
  register_pool_ops(r);
  register_reduce_ops(r);
  register_shape_ops(r);
  register_resize_ops(r);
  register_fused_ops(r);
}

}  // namespace kiln::ops
