// Inference-mode BatchNormalization as a per-channel affine map, the common
// ground of every BN fold:
//   y = gamma·(x − mean)/sqrt(var + eps) + beta = s[c]·x + t[c]
//   s = gamma / sqrt(var + eps),  t = beta − mean·s       (computed in double)
#pragma once

#include <string>
#include <vector>

#include "passes/pass.h"

namespace kiln::passes {

struct BatchNormAffine {
  std::vector<double> s, t;
  int64_t channels = 0;
};

// Fills `out` when `bn` can fold at all: inference mode, constant float32
// parameters of shape [C], only output 0 used. Otherwise returns false with
// the reason in `why_not`. Warns (numeric audit) when |s| > 1e4.
bool batchnorm_affine(PassContext& ctx, const ir::Node& bn, BatchNormAffine* out, std::string* why_not);

// The node producing BN's input, when BN may fold into it: X has no other
// reader and is not a graph output. Else nullptr with the reason.
ir::Node* sole_producer(const ir::Node& bn, std::string* why_not);

// Float data of a constant float32 value, or nullptr.
const Tensor* constant_f32(const ir::Value* v);

// Where a fold writes the new values of constant `v` (read by `user`): the
// same storage when `user` is its only reader, it is not a graph output and
// no other tensor shares that storage (the old values are dead once folded,
// and writing over them saves a copy of the weights, its page faults
// included); else a new uninitialized tensor of the same shape. Element-wise
// folds that read index i before writing index i work either way.
Tensor fold_destination(const ir::Value& v, const ir::Node& user);

// Warns when folded values turned subnormal (they were normal before).
void audit_subnormals(PassContext& ctx, const ir::Node& bn, const Tensor& folded, const char* what);

// Whether a Gemm's C is the same for every row (absent, scalar, [N], [1, N]),
// so that a per-column fold can absorb it.
bool gemm_c_per_column(const Tensor* c, int64_t n);
// Turns a Gemm or MatMul node into Gemm(A, b, c) with beta = 1 (and, before
// opset 7, broadcast = 1): the shape every Gemm/MatMul fold ends in.
void rewrite_as_gemm(PassContext& ctx, ir::Node* mm, Tensor b, Tensor c);

// Rewires: `producer` now writes BN's output, BN goes away.
void absorb_batchnorm(PassContext& ctx, ir::Node* producer, ir::Node* bn);

}  // namespace kiln::passes
