// Gemm and MatMul: float32 on the packed SGEMM (kernels/simd/gemm_driver.h),
// with a constant operand packed once at session creation; other dtypes on
// the reference GEMM.
//
//   Gemm:   Y[M, N] = alpha · A'·B' + beta · C,  A' = Aᵀ if transA, B' = Bᵀ if transB,
//           C unidirectionally broadcast to [M, N] (opsets 1–6: only with broadcast=1).
//   MatMul: numpy.matmul — a 1-D A is [1, K] and a 1-D B is [K, 1] (the added dim
//           is dropped from the result); leading (batch) dims broadcast.
//
// Reference path: work is split over blocks of output rows (and batch
// entries); every output row is computed by the same sequential loop whatever
// the split. Fast path: the SGEMM driver splits C into panels and keeps each
// element's K order fixed. Either way results do not depend on the thread count.
#include <algorithm>
#include <string>
#include <type_traits>
#include <vector>


#include "kernels/reference/gemm.h"
#include "kernels/reference/gemm_int.h"
#include "kernels/simd/gemm_driver.h"
#include "ops/fast_gemm.h"
#include "ops/op_util.h"
#include "runtime/parallel.h"

namespace kiln::ops {

namespace {

// Multiply-adds per parallel task below which splitting is not worth it.
constexpr int64_t kMinTaskWork = int64_t{1} << 16;

void gemm_kernel(bool ta, bool tb, int64_t M, int64_t N, int64_t K, double alpha, const double* A, int64_t lda,
                 const double* B, int64_t ldb, double beta, double* C, int64_t ldc) {
  kernels::ref::gemm_f64(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

// Rows per task so that one task holds at least kMinTaskWork multiply-adds.
int64_t rows_per_task(int64_t M, int64_t N, int64_t K) {
  int64_t per_row = std::max<int64_t>(1, N * std::max<int64_t>(K, 1));
  return std::clamp<int64_t>((kMinTaskWork + per_row - 1) / per_row, 1, std::max<int64_t>(M, 1));
}

// C = alpha·A'·B' + beta·C for a batch of matrices; a_off/b_off/c_off give each
// batch entry's start. Parallel over (batch entry, row block).
template <class T>
void batched_gemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda,
                  const T* B, int64_t ldb, T beta, T* C, int64_t ldc, const std::vector<int64_t>& a_off,
                  const std::vector<int64_t>& b_off, const std::vector<int64_t>& c_off) {
  const int64_t mb = rows_per_task(M, N, K);
  const int64_t blocks = (M + mb - 1) / mb;
  const int64_t tasks = static_cast<int64_t>(c_off.size()) * blocks;
  // Small products (many tiny batch entries) group several tasks per chunk.
  const int64_t task_work = std::max<int64_t>(1, mb * N * std::max<int64_t>(K, 1));
  const int64_t grain = std::max<int64_t>(1, kMinTaskWork / task_work);
  runtime::parallel_for(tasks, grain, [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) {
      const size_t b = static_cast<size_t>(t / blocks);
      const int64_t m0 = (t % blocks) * mb, m1 = std::min(M, m0 + mb);
      const T* a = A + a_off[b] + (ta ? m0 : m0 * lda);
      T* c = C + c_off[b] + m0 * ldc;
      if constexpr (std::is_integral_v<T>) kernels::ref::gemm_int(m1 - m0, N, K, a, lda, B + b_off[b], ldb, c, ldc);
      else gemm_kernel(ta, tb, m1 - m0, N, K, alpha, a, lda, B + b_off[b], ldb, beta, c, ldc);
    }
  });
}

// ---------------------------------------------------------------- Gemm

struct GemmAttrs {
  float alpha, beta;
  bool trans_a, trans_b;
  bool broadcast_c;  // false only in opsets 1–6 without broadcast=1: then C must be M×N
};

GemmAttrs gemm_attrs(const ir::Node& n) {
  GemmAttrs a;
  a.alpha = n.attr_float("alpha", 1.f);
  a.beta = n.attr_float("beta", 1.f);
  a.trans_a = n.attr_int("transA", 0) != 0;
  a.trans_b = n.attr_int("transB", 0) != 0;
  a.broadcast_c = n.opset < 7 ? n.attr_int("broadcast", 0) != 0 : true;
  return a;
}

// Checks that C (shape c) can be unidirectionally broadcast to [M, N]; dims
// of -1 (unknown) pass. Returns "" when fine, else what is wrong.
std::string check_gemm_c(const std::vector<int64_t>& c, int64_t M, int64_t N, bool allow_broadcast) {
  const std::string want = shape_to_string({M, N});
  if (!allow_broadcast) {
    if (c.size() != 2 || (c[0] >= 0 && M >= 0 && c[0] != M) || (c[1] >= 0 && N >= 0 && c[1] != N))
      return "C has shape " + shape_to_string(c) + " but must be exactly " + want +
             " (set broadcast=1 to broadcast it, opset < 7)";
    return "";
  }
  if (c.size() > 2) return "C has rank " + std::to_string(c.size()) + " but must broadcast to " + want;
  const int64_t target[2] = {M, N};
  for (size_t i = 0; i < c.size(); ++i) {
    int64_t d = c[i], t = target[2 - c.size() + i];
    if (d >= 0 && t >= 0 && d != 1 && d != t)
      return "C has shape " + shape_to_string(c) + ", which does not broadcast to " + want;
  }
  return "";
}

void infer_gemm(InferContext& ctx) {
  require_dtype(ctx, 0, {DType::Float32, DType::Float64});
  require_same_dtype(ctx, 0, 1);
  const bool has_c = ctx.has_input(2);
  if (has_c) require_same_dtype(ctx, 0, 2);
  const GemmAttrs at = gemm_attrs(ctx.node());
  const ir::Shape &a = in_shape(ctx, 0), &b = in_shape(ctx, 1);
  if (a.known && a.rank() != 2) ctx.fail("A must be 2-D, got shape " + a.str());
  if (b.known && b.rank() != 2) ctx.fail("B must be 2-D, got shape " + b.str());
  int64_t M = -1, N = -1, Ka = -1, Kb = -1;
  if (a.known) {
    M = a.dims[at.trans_a ? 1 : 0];
    Ka = a.dims[at.trans_a ? 0 : 1];
  }
  if (b.known) {
    N = b.dims[at.trans_b ? 0 : 1];
    Kb = b.dims[at.trans_b ? 1 : 0];
  }
  if (Ka >= 0 && Kb >= 0 && Ka != Kb)
    ctx.fail("inner dimensions differ: A' is " + std::to_string(M) + "x" + std::to_string(Ka) + " (A " + a.str() +
             (at.trans_a ? ", transA" : "") + ") but B' is " + std::to_string(Kb) + "x" + std::to_string(N) + " (B " +
             b.str() + (at.trans_b ? ", transB" : "") + ")");
  if (has_c && in_shape(ctx, 2).known) {
    std::string err = check_gemm_c(in_shape(ctx, 2).dims, M, N, at.broadcast_c);
    if (!err.empty()) ctx.fail(err);
  }
  ctx.set_output(0, ctx.input(0).dtype, known({M, N}));
}

// M, N, K of Y = A'·B' from the run-time operands; an error when A and B are
// not 2-D or their inner dimensions differ.
struct GemmDims {
  int64_t M, N, K;
};
GemmDims gemm_dims(const ComputeContext& ctx, const GemmAttrs& at) {
  const Tensor &a = ctx.input(0), &b = ctx.input(1);
  if (a.rank() != 2 || b.rank() != 2)
    ctx.fail("A and B must be 2-D, got " + shape_to_string(a.shape()) + " and " + shape_to_string(b.shape()));
  const int64_t M = a.shape()[at.trans_a ? 1 : 0], K = a.shape()[at.trans_a ? 0 : 1];
  const int64_t N = b.shape()[at.trans_b ? 0 : 1], Kb = b.shape()[at.trans_b ? 1 : 0];
  if (K != Kb)
    ctx.fail("inner dimensions differ: A' is " + std::to_string(M) + "x" + std::to_string(K) + ", B' is " +
             std::to_string(Kb) + "x" + std::to_string(N));
  return {M, N, K};
}

template <class T>
void compute_gemm_typed(ComputeContext& ctx, const GemmAttrs& at) {
  const Tensor &a = ctx.input(0), &b = ctx.input(1);
  const GemmDims d = gemm_dims(ctx, at);
  const int64_t M = d.M, N = d.N, K = d.K;  // plain names: lambdas below capture them
  Tensor& y = ctx.allocate_output(0, a.dtype(), {M, N});
  T* yp = y.data_as<T>();
  T beta = static_cast<T>(at.beta);
  if (ctx.has_input(2) && beta != T(0)) {
    // Y starts as C broadcast to [M, N]; the GEMM then adds alpha·A'·B' to beta·Y.
    const Tensor& c = ctx.input(2);
    std::string err = check_gemm_c(c.shape(), M, N, at.broadcast_c);
    if (!err.empty()) ctx.fail(err);
    const std::vector<int64_t> st = broadcast_strides(c.shape(), {M, N});
    const T* cp = c.data_as<T>();
    for (int64_t m = 0; m < M; ++m)
      for (int64_t n = 0; n < N; ++n) yp[m * N + n] = cp[m * st[0] + n * st[1]];
  } else {
    beta = T(0);  // no C (or beta = 0): Y is not read
  }
  batched_gemm<T>(at.trans_a, at.trans_b, M, N, K, static_cast<T>(at.alpha), a.data_as<T>(), a.shape()[1],
                  b.data_as<T>(), b.shape()[1], beta, yp, N, {0}, {0}, {0});
}

// Constant float32 operands packed once for the SGEMM.
struct PackedGemmState : OpState {
  simd::AlignedFloats a, b;          // empty when that operand is not constant
  int64_t a_rows = -1, a_cols = -1;  // stored shape of the packed operands
  int64_t b_rows = -1, b_cols = -1;
};

const Tensor* constant_f32_matrix(const InferContext& ctx, size_t i) {
  if (!ctx.has_input(i)) return nullptr;
  const Tensor* t = ctx.input(i).constant;
  return t && t->dtype() == DType::Float32 && t->rank() == 2 && t->numel() > 0 ? t : nullptr;
}

std::shared_ptr<const OpState> prepare_gemm(const InferContext& ctx) {
  const GemmAttrs at = gemm_attrs(ctx.node());
  auto st = std::make_shared<PackedGemmState>();
  if (const Tensor* a = constant_f32_matrix(ctx, 0)) {
    const int64_t M = a->shape()[at.trans_a ? 1 : 0], K = a->shape()[at.trans_a ? 0 : 1];
    st->a = simd::pack_gemm_a(a->data_as<float>(), a->shape()[1], at.trans_a, M, K);
    st->a_rows = a->shape()[0];
    st->a_cols = a->shape()[1];
  }
  if (const Tensor* b = constant_f32_matrix(ctx, 1)) {
    const int64_t N = b->shape()[at.trans_b ? 0 : 1], K = b->shape()[at.trans_b ? 1 : 0];
    st->b = simd::pack_gemm_b(b->data_as<float>(), b->shape()[1], at.trans_b, K, N);
    st->b_rows = b->shape()[0];
    st->b_cols = b->shape()[1];
  }
  if (st->a_rows < 0 && st->b_rows < 0) return nullptr;
  return st;
}

// Y = alpha·A'·B' + beta·C on the SGEMM. C that is one row ([N], [1, N]) or
// one column ([M, 1]) becomes the GEMM's column or row bias; any other C is
// broadcast into Y first and accumulated onto. A kiln.FusedGemm epilogue is
// applied in the GEMM too.
void compute_gemm_fast(ComputeContext& ctx, const GemmAttrs& at) {
  const Tensor &a = ctx.input(0), &b = ctx.input(1);
  const GemmDims d = gemm_dims(ctx, at);
  const int64_t M = d.M, N = d.N, K = d.K;  // plain names: lambdas below capture them
  Tensor& y = ctx.allocate_output(0, DType::Float32, {M, N});
  float* yp = y.data_as<float>();
  simd::SgemmProblem p;
  p.M = M;
  p.N = N;
  p.K = K;
  const auto* st = dynamic_cast<const PackedGemmState*>(ctx.state());
  p.a = a.data_as<float>();
  p.lda = a.shape()[1];
  p.trans_a = at.trans_a;
  if (st && st->a.size() && st->a_rows == a.shape()[0] && st->a_cols == a.shape()[1]) p.packed_a = st->a.data();
  p.b = b.data_as<float>();
  p.ldb = b.shape()[1];
  p.trans_b = at.trans_b;
  if (st && st->b.size() && st->b_rows == b.shape()[0] && st->b_cols == b.shape()[1]) p.packed_b = st->b.data();
  p.c = yp;
  p.ldc = N;
  p.ep.alpha = at.alpha;

  std::vector<float> scaled;  // beta·C when C is a bias and beta != 1
  if (ctx.has_input(2) && at.beta != 0.f) {
    const Tensor& c = ctx.input(2);
    std::string err = check_gemm_c(c.shape(), M, N, at.broadcast_c);
    if (!err.empty()) ctx.fail(err);
    const float* cp = c.data_as<float>();
    auto bias = [&](int64_t n) {
      if (at.beta == 1.f) return cp;
      scaled.assign(cp, cp + n);
      for (float& v : scaled) v *= at.beta;
      return static_cast<const float*>(scaled.data());
    };
    const std::vector<int64_t>& cs = c.shape();
    if (c.numel() == N && (cs.size() == 1 || (cs.size() == 2 && cs[0] == 1))) {
      p.ep.col_bias = bias(N);
    } else if (cs.size() == 2 && cs[0] == M && cs[1] == 1) {
      p.ep.row_bias = bias(M);
    } else {
      const std::vector<int64_t> bst = broadcast_strides(cs, {M, N});
      for (int64_t m = 0; m < M; ++m)
        for (int64_t n = 0; n < N; ++n) yp[m * N + n] = at.beta * cp[m * bst[0] + n * bst[1]];
      p.ep.accumulate = true;
    }
  }
  const bool fused = gemm_fused_epilogue(ctx, {M, N}, &p.ep);
  run_sgemm(p);  // one-row / one-column products on the GEMV kernels
  if (fused) ctx.mark_epilogue_applied();
  ctx.set_kernel(sgemm_kernel_name(p));
}

void compute_gemm(ComputeContext& ctx) {
  const GemmAttrs at = gemm_attrs(ctx.node());
  switch (ctx.input(0).dtype()) {
    case DType::Float32:
      if (ctx.input(1).dtype() != DType::Float32 || (ctx.has_input(2) && ctx.input(2).dtype() != DType::Float32))
        ctx.fail("A, B and C must share one dtype");
      compute_gemm_fast(ctx, at);
      break;
    case DType::Float64: compute_gemm_typed<double>(ctx, at); break;
    default: ctx.fail("dtype " + dtype_name(ctx.input(0).dtype()) + " is not supported (float32, float64)");
  }
}

// ---------------------------------------------------------------- MatMul

// The pieces of a numpy.matmul: matrix sizes, the batch dims of each operand
// and of the result, and whether A/B were 1-D (promoted).
struct MatMulDims {
  bool a_vec = false, b_vec = false;
  int64_t M = -1, K = -1, Kb = -1, N = -1;
  std::vector<int64_t> batch_a, batch_b;
};

MatMulDims matmul_dims(const std::vector<int64_t>& a, const std::vector<int64_t>& b) {
  MatMulDims d;
  d.a_vec = a.size() == 1;
  d.b_vec = b.size() == 1;
  d.M = d.a_vec ? 1 : a[a.size() - 2];
  d.K = a.back();
  d.Kb = d.b_vec ? b[0] : b[b.size() - 2];
  d.N = d.b_vec ? 1 : b.back();
  if (!d.a_vec) d.batch_a.assign(a.begin(), a.end() - 2);
  if (!d.b_vec) d.batch_b.assign(b.begin(), b.end() - 2);
  return d;
}

// Result shape: batch dims, then M unless A was 1-D, then N unless B was 1-D.
std::vector<int64_t> matmul_out_shape(std::vector<int64_t> batch, const MatMulDims& d) {
  if (!d.a_vec) batch.push_back(d.M);
  if (!d.b_vec) batch.push_back(d.N);
  return batch;
}

std::string k_mismatch(const std::vector<int64_t>& a, const std::vector<int64_t>& b, const MatMulDims& d) {
  return "inner dimensions differ: A " + shape_to_string(a) + " has K = " + std::to_string(d.K) + " but B " +
         shape_to_string(b) + " has K = " + std::to_string(d.Kb);
}

// "" when the batch dims (all but the last two) of A and B broadcast; else why not.
std::string check_batch_broadcast(const std::vector<int64_t>& a, const std::vector<int64_t>& b, const MatMulDims& d) {
  const size_t ra = d.batch_a.size(), rb = d.batch_b.size(), r = std::max(ra, rb);
  for (size_t i = 0; i < r; ++i) {
    int64_t da = i < r - ra ? 1 : d.batch_a[i - (r - ra)], db = i < r - rb ? 1 : d.batch_b[i - (r - rb)];
    if (da >= 0 && db >= 0 && da != db && da != 1 && db != 1)
      return "batch dimensions do not broadcast: A " + shape_to_string(a) + " and B " + shape_to_string(b) +
             " (batch dims " + shape_to_string(d.batch_a) + " and " + shape_to_string(d.batch_b) + ")";
  }
  return "";
}

void infer_matmul(InferContext& ctx) {
  require_dtype(ctx, 0, {DType::Float32, DType::Float64, DType::Int32, DType::Int64, DType::UInt32, DType::UInt64});
  require_same_dtype(ctx, 0, 1);
  const DType t = ctx.input(0).dtype;
  const ir::Shape &a = in_shape(ctx, 0), &b = in_shape(ctx, 1);
  if ((a.known && a.rank() == 0) || (b.known && b.rank() == 0)) ctx.fail("MatMul does not accept scalar (0-D) inputs");
  if (!a.known || !b.known) {
    ctx.set_output(0, t, ir::Shape::unknown());
    return;
  }
  const MatMulDims d = matmul_dims(a.dims, b.dims);
  if (d.K >= 0 && d.Kb >= 0 && d.K != d.Kb) ctx.fail(k_mismatch(a.dims, b.dims, d));
  if (std::string err = check_batch_broadcast(a.dims, b.dims, d); !err.empty()) ctx.fail(err);
  const ir::Shape batch = broadcast_shapes(ctx, ir::Shape::of(d.batch_a), ir::Shape::of(d.batch_b));
  ctx.set_output(0, t, known(matmul_out_shape(batch.dims, d)));
}

std::shared_ptr<const OpState> prepare_matmul(const InferContext& ctx) {
  const Tensor* b = constant_f32_matrix(ctx, 1);
  if (!b || !ctx.has_input(0) || ctx.input(0).dtype != DType::Float32) return nullptr;
  auto st = std::make_shared<PackedGemmState>();
  st->b = simd::pack_gemm_b(b->data_as<float>(), b->shape()[1], false, b->shape()[0], b->shape()[1]);
  st->b_rows = b->shape()[0];
  st->b_cols = b->shape()[1];
  return st;
}

// Batch entries on the SGEMM: one threaded GEMM after another, or, when
// there are many small entries, whole entries shared out over the threads.
void matmul_fast(ComputeContext& ctx, const MatMulDims& d, const Tensor& a, const Tensor& b, Tensor& y,
                 const std::vector<int64_t>& a_off, const std::vector<int64_t>& b_off,
                 const std::vector<int64_t>& y_off) {
  simd::SgemmProblem p;
  p.M = d.M;
  p.N = d.N;
  p.K = d.K;
  p.lda = d.K;
  p.ldb = d.N;
  p.ldc = d.N;
  const auto* st = dynamic_cast<const PackedGemmState*>(ctx.state());
  const bool packed = st && st->b.size() && b.rank() == 2 && st->b_rows == d.K && st->b_cols == d.N;
  if (packed) p.packed_b = st->b.data();
  const bool fused = gemm_fused_epilogue(ctx, y.shape(), &p.ep);
  const float* z = p.ep.residual;
  const float *ap = a.data_as<float>(), *bp = b.data_as<float>();
  float* yp = y.data_as<float>();
  auto entry = [&](size_t i, bool threaded) {
    simd::SgemmProblem q = p;
    q.a = ap + a_off[i];
    q.b = bp + b_off[i];
    q.c = yp + y_off[i];
    if (z) q.ep.residual = z + y_off[i];
    run_sgemm(q, threaded);
  };
  const int64_t nb = static_cast<int64_t>(y_off.size());
  const int64_t threads = runtime::concurrency();
  if (nb >= 2 * threads && d.M * d.N * std::max<int64_t>(d.K, 1) < (int64_t{1} << 18)) {
    runtime::parallel_for(nb, 1, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) entry(static_cast<size_t>(i), false);
    });
  } else {
    for (int64_t i = 0; i < nb; ++i) entry(static_cast<size_t>(i), true);
  }
  if (fused) ctx.mark_epilogue_applied();
  ctx.set_kernel(sgemm_kernel_name(p));
}

template <class T>
void compute_matmul_typed(ComputeContext& ctx) {
  const Tensor &a = ctx.input(0), &b = ctx.input(1);
  if (a.rank() == 0 || b.rank() == 0) ctx.fail("MatMul does not accept scalar (0-D) inputs");
  const MatMulDims d = matmul_dims(a.shape(), b.shape());
  if (d.K != d.Kb) ctx.fail(k_mismatch(a.shape(), b.shape(), d));
  if (std::string err = check_batch_broadcast(a.shape(), b.shape(), d); !err.empty()) ctx.fail(err);
  const std::vector<int64_t> batch = broadcast_dims(ctx, d.batch_a, d.batch_b);
  Tensor& y = ctx.allocate_output(0, a.dtype(), matmul_out_shape(batch, d));
  if (y.numel() == 0) return;

  // Start of every batch entry in A, B and Y (broadcast batch dims have stride 0).
  const int64_t nb = checked_numel(batch);
  const std::vector<int64_t> sa = broadcast_strides(d.batch_a, batch), sb = broadcast_strides(d.batch_b, batch);
  std::vector<int64_t> a_off(nb), b_off(nb), y_off(nb), idx(batch.size(), 0);
  for (int64_t i = 0; i < nb; ++i) {
    int64_t oa = 0, ob = 0;
    for (size_t j = 0; j < batch.size(); ++j) {
      oa += idx[j] * sa[j];
      ob += idx[j] * sb[j];
    }
    a_off[i] = oa * d.M * d.K;
    b_off[i] = ob * d.K * d.N;
    y_off[i] = i * d.M * d.N;
    for (size_t j = batch.size(); j-- > 0;) {  // next multi-index, last dim fastest
      if (++idx[j] < batch[j]) break;
      idx[j] = 0;
    }
  }
  // A 1-D A is one row [1, K]; a 1-D B is one column [K, 1] (row stride 1).
  if constexpr (std::is_same_v<T, float>) {
    matmul_fast(ctx, d, a, b, y, a_off, b_off, y_off);
  } else {
    batched_gemm<T>(false, false, d.M, d.N, d.K, T(1), a.data_as<T>(), d.K, b.data_as<T>(), d.N, T(0),
                    y.data_as<T>(), d.N, a_off, b_off, y_off);
  }
}

void compute_matmul(ComputeContext& ctx) {
  switch (ctx.input(0).dtype()) {
    case DType::Float32: compute_matmul_typed<float>(ctx); break;
    case DType::Float64: compute_matmul_typed<double>(ctx); break;
    case DType::Int32: compute_matmul_typed<int32_t>(ctx); break;
    case DType::Int64: compute_matmul_typed<int64_t>(ctx); break;
    case DType::UInt32: compute_matmul_typed<uint32_t>(ctx); break;
    case DType::UInt64: compute_matmul_typed<uint64_t>(ctx); break;
    default: ctx.fail("dtype " + dtype_name(ctx.input(0).dtype()) + " is not supported");
  }
}

}  // namespace

void register_matmul_ops(OpRegistry& r) {
  // Gemm 1–10: C required (opsets 1–6 also have the `broadcast` attribute);
  // Gemm 11+: C optional. Integer Gemm (opset 9+) is refused with a dtype error.
  OpSchema g;
  g.op_type = "Gemm";
  g.since_version = 1;
  g.until_version = 10;
  g.min_inputs = g.max_inputs = 3;
  g.infer = infer_gemm;
  g.compute = compute_gemm;
  g.prepare = prepare_gemm;
  g.flops = [](const ir::Node& n, const std::vector<const Tensor*>& in, const std::vector<Tensor>& out) {
    if (in.empty() || !in[0] || out.empty() || in[0]->rank() != 2) return 0.0;
    const int64_t K = in[0]->shape()[n.attr_int("transA", 0) ? 0 : 1];
    return 2.0 * static_cast<double>(out[0].numel()) * static_cast<double>(K);  // 2·M·N·K
  };
  r.add(g);
  g.since_version = 11;
  g.until_version = 1000;
  g.min_inputs = 2;
  r.add(g);

  // MatMul: numpy.matmul semantics in every opset (1, 9, 13 differ in dtypes only).
  OpSchema m;
  m.op_type = "MatMul";
  m.since_version = 1;
  m.until_version = 1000;
  m.min_inputs = m.max_inputs = 2;
  m.infer = infer_matmul;
  m.compute = compute_matmul;
  m.prepare = prepare_matmul;
  m.flops = [](const ir::Node&, const std::vector<const Tensor*>& in, const std::vector<Tensor>& out) {
    if (in.empty() || !in[0] || out.empty() || in[0]->rank() == 0) return 0.0;
    return 2.0 * static_cast<double>(out[0].numel()) * static_cast<double>(in[0]->shape().back());  // 2·M·N·K per entry
  };
  r.add(std::move(m));
}

}  // namespace kiln::ops
