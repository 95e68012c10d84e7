// Fused ops: a Conv, ConvTranspose, Gemm, MatMul or BatchNormalization
// followed by an epilogue — an optional residual add and an optional
// activation, applied to each output element as
//
//   y = act(op(x…) + z)        (z: the residual input, same shape as y)
//
// The fusion passes turn matching subgraphs into these; they live in the
// "kiln" domain as Fused<Op> and keep the base op's attributes, plus:
//   kiln.activation        string: Relu, Clip, LeakyRelu, Sigmoid, HardSigmoid,
//                          HardSwish, Tanh, SiLU ("" for none)
//   kiln.activation_alpha, kiln.activation_beta   floats (Clip: min, max;
//                          LeakyRelu: alpha; HardSigmoid: alpha, beta)
//   kiln.residual          int: index of the residual input (0 for none)
//
// A FusedConv may also map its input before the convolution (a standalone
// inference BatchNormalization, optionally with its Relu, folded in front of
// a 1×1 convolution, which BN cannot fold into through the Relu):
//
//   y = act(conv(pact(fma(x, scale[c], shift[c])), …) + z)
//
//   kiln.prologue          string: "None" or "Relu" (pact); absent for no map.
//                          scale and shift are the two inputs after the
//                          residual's place (float32 [C]).
#pragma once

#include <string>

#include "ir/graph.h"
#include "ops/op.h"
#include "kernels/simd/activation.h"

namespace kiln::ops {

inline constexpr const char* kKilnDomain = "kiln";
inline constexpr const char* kActivationAttr = "kiln.activation";
inline constexpr const char* kActivationAlphaAttr = "kiln.activation_alpha";
inline constexpr const char* kActivationBetaAttr = "kiln.activation_beta";
inline constexpr const char* kResidualAttr = "kiln.residual";
inline constexpr const char* kPrologueAttr = "kiln.prologue";

// Base ops that accept an epilogue, and their inputs count bound (the
// residual input goes right after the base op's last possible input).
bool fusable_base_op(const std::string& op_type, int* residual_index);

// The op a fused node wraps ("Conv" for kiln's FusedConv), or "" for a node
// that is not a fused op.
std::string fused_base_op(const ir::Node& n);

// A fused node's epilogue, read from its kiln.* attributes.
struct FusedEpilogue {
  enum Kind { None, Relu, Clip, LeakyRelu, Sigmoid, HardSigmoid, HardSwish, Tanh, SiLU } kind = None;
  float alpha = 0, beta = 0;
  size_t residual_input = 0;  // 0: none

  static FusedEpilogue of(const ir::Node& n);  // an Error for an unknown activation
  // The activation in double (the reference); fast kernels have their own.
  double apply(double x) const;
  // The activation as the SIMD kernels' parameters (kernels/simd/activation.h).
  simd::ActParams simd_act() const;
};

// The epilogue a float32 Conv kernel applies itself, in registers: the
// node's activation (None on a plain Conv) and its residual, read in y's own
// layout (null when the node has none). False when the node's residual is not
// a float32 tensor of y's shape: the fused wrapper then applies the epilogue
// (broadcasting the residual). `present`: there is something to apply, so the
// kernel marks the epilogue applied.
struct KernelEpilogue {
  simd::ActParams act;
  const float* residual = nullptr;
  bool present = false;
};
bool kernel_epilogue(const ComputeContext& ctx, const Tensor& y, KernelEpilogue* out);

// The activation an ONNX node computes, when it is one the epilogue knows and
// its parameters are constant. Fills name/alpha/beta.
bool epilogue_activation(const ir::Node& act, std::string* name, float* alpha, float* beta);

}  // namespace kiln::ops
