#include "ops/fused.h"

#include <cmath>
#include <limits>

#include "ops/op_util.h"
#include "runtime/parallel.h"

namespace kiln::ops {

bool fusable_base_op(const std::string& op_type, int* residual_index) {
  if (op_type == "Conv" || op_type == "ConvTranspose" || op_type == "Gemm") *residual_index = 3;
  else if (op_type == "MatMul") *residual_index = 2;
  else if (op_type == "BatchNormalization") *residual_index = 5;
  else return false;
  return true;
}

std::string fused_base_op(const ir::Node& n) {
  if (n.domain != kKilnDomain || n.op_type.rfind("Fused", 0) != 0) return "";
  return n.op_type.substr(5);
}

bool epilogue_activation(const ir::Node& n, std::string* name, float* alpha, float* beta) {
  if (!n.domain.empty()) return false;
  const std::string& op = n.op_type;
  *alpha = 0;
  *beta = 0;
  if (op == "Relu" || op == "Sigmoid" || op == "Tanh" || op == "HardSwish") {
    *name = op;
    return true;
  }
  if (op == "LeakyRelu") {
    *name = op;
    *alpha = n.attr_float("alpha", 0.01f);
    return true;
  }
  if (op == "HardSigmoid") {
    *name = op;
    *alpha = n.attr_float("alpha", 0.2f);
    *beta = n.attr_float("beta", 0.5f);
    return true;
  }
  if (op == "Clip") {
    float lo = -std::numeric_limits<float>::infinity(), hi = std::numeric_limits<float>::infinity();
    if (n.opset < 11) {
      lo = n.attr_float("min", lo);
      hi = n.attr_float("max", hi);
    } else {
      for (size_t i = 1; i < 3; ++i) {
        if (!n.has_input(i)) continue;
        const ir::Value* v = n.inputs[i];
        if (!v->constant || v->constant->dtype() != DType::Float32 || v->constant->numel() != 1) return false;
        (i == 1 ? lo : hi) = *v->constant->data_as<float>();
      }
    }
    *name = op;
    *alpha = lo;
    *beta = hi;
    return true;
  }
  return false;
}

FusedEpilogue FusedEpilogue::of(const ir::Node& n) {
  FusedEpilogue e;
  std::string a = n.attr_string(kActivationAttr, "");
  e.alpha = n.attr_float(kActivationAlphaAttr, 0.f);
  e.beta = n.attr_float(kActivationBetaAttr, 0.f);
  e.residual_input = static_cast<size_t>(n.attr_int(kResidualAttr, 0));
  if (a.empty()) e.kind = None;
  else if (a == "Relu") e.kind = Relu;
  else if (a == "Clip") e.kind = Clip;
  else if (a == "LeakyRelu") e.kind = LeakyRelu;
  else if (a == "Sigmoid") e.kind = Sigmoid;
  else if (a == "HardSigmoid") e.kind = HardSigmoid;
  else if (a == "HardSwish") e.kind = HardSwish;
  else if (a == "Tanh") e.kind = Tanh;
  else if (a == "SiLU") e.kind = SiLU;
  else throw Error(n.describe() + ": unknown fused activation '" + a + "'");
  return e;
}

bool kernel_epilogue(const ComputeContext& ctx, const Tensor& y, KernelEpilogue* out) {
  const FusedEpilogue e = FusedEpilogue::of(ctx.node());
  const Tensor* z = e.residual_input ? ctx.residual() : nullptr;
  if (e.residual_input && (!z || z->dtype() != DType::Float32 || z->shape() != y.shape())) return false;
  out->act = e.simd_act();
  out->residual = z ? z->data_as<float>() : nullptr;
  out->present = e.kind != FusedEpilogue::None || z;
  return true;
}

double FusedEpilogue::apply(double x) const {
  switch (kind) {
    case None: return x;
    case Relu: return x < 0 ? 0.0 : x;  // NaN stays NaN, as in the Relu op
    case Clip: return std::min(std::max(x, static_cast<double>(alpha)), static_cast<double>(beta));
    case LeakyRelu: return x < 0 ? alpha * x : x;
    case Sigmoid: return 1.0 / (1.0 + std::exp(-x));
    case HardSigmoid: return std::max(0.0, std::min(1.0, alpha * x + beta));
    case HardSwish: return x * std::max(0.0, std::min(1.0, x / 6.0 + 0.5));
    case Tanh: return std::tanh(x);
    case SiLU: return x / (1.0 + std::exp(-x));
  }
  return x;
}

simd::ActParams FusedEpilogue::simd_act() const {
  simd::Act k = simd::Act::None;
  switch (kind) {
    case None: k = simd::Act::None; break;
    case Relu: k = simd::Act::Relu; break;
    case Clip: k = simd::Act::Clip; break;
    case LeakyRelu: k = simd::Act::LeakyRelu; break;
    case Sigmoid: k = simd::Act::Sigmoid; break;
    case HardSigmoid: k = simd::Act::HardSigmoid; break;
    case HardSwish: k = simd::Act::HardSwish; break;
    case Tanh: k = simd::Act::Tanh; break;
    case SiLU: k = simd::Act::SiLU; break;
  }
  return simd::ActParams{k, alpha, beta};
}

namespace {

void register_fused(OpRegistry& r, const std::string& base) {
  int residual_index = 0;
  fusable_base_op(base, &residual_index);
  OpSchema s;
  s.domain = kKilnDomain;
  s.op_type = "Fused" + base;
  s.since_version = 1;
  s.until_version = 1000;
  s.min_inputs = 1;
  // The residual's place, then (Conv only) the input map's scale and shift.
  s.max_inputs = residual_index + (base == "Conv" ? 3 : 1);
  s.min_outputs = 1;
  s.max_outputs = 1;
  auto base_schema = [base](const ir::Node& n) {
    const OpSchema* b = OpRegistry::instance().find("", base, n.opset);
    if (!b) throw Error(n.describe() + ": base op " + base + " is not available at opset " + std::to_string(n.opset));
    return b;
  };
  auto residual_of = [](const ir::Node& n) { return static_cast<size_t>(n.attr_int(kResidualAttr, 0)); };
  // The base op's own inputs come before the residual's place.
  const size_t base_inputs = static_cast<size_t>(residual_index);
  s.infer = [base, base_schema, residual_of, base_inputs](InferContext& ctx) {
    const ir::Node& n = ctx.node();
    size_t res = residual_of(n);
    std::vector<ValueInfo> in;
    for (size_t i = 0; i < ctx.num_inputs() && i < base_inputs; ++i)
      in.push_back(ctx.has_input(i) ? ctx.input(i) : ValueInfo{});
    while (!in.empty() && in.back().dtype == DType::Undefined) in.pop_back();
    InferContext inner(n, std::move(in), ctx.num_outputs());
    base_schema(n)->infer(inner);
    FusedEpilogue::of(n);  // validates the activation name
    if (n.has_attr(kPrologueAttr)) {
      if (base != "Conv") ctx.fail("only a FusedConv takes an input map (" + std::string(kPrologueAttr) + ")");
      const std::string m = n.attr_string(kPrologueAttr, "");
      if (m != "None" && m != "Relu") ctx.fail("unknown input map activation '" + m + "'");
      const size_t c = ctx.has_input(0) && ctx.input(0).shape.known && ctx.input(0).shape.rank() >= 2
                           ? static_cast<size_t>(1) : static_cast<size_t>(0);
      for (size_t i = base_inputs + 1; i <= base_inputs + 2; ++i) {
        if (!ctx.has_input(i) || ctx.input(i).dtype != DType::Float32 || !ctx.input(i).shape.known ||
            ctx.input(i).shape.rank() != 1)
          ctx.fail("input map needs float32 [C] scale and shift at inputs " + std::to_string(base_inputs + 1) +
                   " and " + std::to_string(base_inputs + 2));
        const int64_t ch = c ? ctx.input(0).shape.dims[1] : -1, len = ctx.input(i).shape.dims[0];
        if (ch >= 0 && len >= 0 && ch != len)
          ctx.fail("input map has " + std::to_string(len) + " channels; X has " + std::to_string(ch));
      }
    }
    const ValueInfo& y = inner.outputs()[0];
    if (res) {
      const ValueInfo& z = ctx.input(res);
      if (z.dtype != y.dtype) ctx.fail("residual input has dtype " + dtype_name(z.dtype) + ", not " + dtype_name(y.dtype));
      ctx.set_output(0, y.dtype, broadcast_shapes(ctx, y.shape, z.shape));
      return;
    }
    ctx.set_output(0, y.dtype, y.shape);
  };
  s.compute = [base_schema, residual_of, base_inputs](ComputeContext& ctx) {
    const ir::Node& n = ctx.node();
    size_t res = residual_of(n);
    std::vector<const Tensor*> in;
    for (size_t i = 0; i < ctx.num_inputs() && i < base_inputs; ++i)
      in.push_back(ctx.has_input(i) ? &ctx.input(i) : nullptr);
    std::vector<Tensor> out(ctx.num_outputs());
    ComputeContext inner(n, std::move(in), out, ctx.threads(), ctx.state());
    inner.set_max_output_elements(ctx.max_output_elements());
    if (res) inner.set_residual(&ctx.input(res));
    ComputeContext::InputMap map;
    if (n.has_attr(kPrologueAttr)) {
      const Tensor &scale = ctx.input(base_inputs + 1), &shift = ctx.input(base_inputs + 2);
      const Tensor& x = ctx.input(0);
      if (scale.dtype() != DType::Float32 || shift.dtype() != DType::Float32 || x.dtype() != DType::Float32 ||
          x.rank() < 2 || scale.numel() != x.shape()[1] || shift.numel() != x.shape()[1])
        ctx.fail("the input map needs float32 X and float32 scale and shift of X's " +
                 std::to_string(x.rank() < 2 ? 0 : x.shape()[1]) + " channels");
      map.scale = scale.data_as<float>();
      map.shift = shift.data_as<float>();
      map.relu = n.attr_string(kPrologueAttr, "") == "Relu";
      inner.set_input_map(&map);
    }
    base_schema(n)->compute(inner);
    ctx.set_kernel(inner.kernel());
    Tensor& y = out[0];
    if (inner.epilogue_applied()) {
      ctx.set_output(0, std::move(y));
      return;
    }
    if (y.dtype() != DType::Float32) ctx.fail("fused epilogues support float32 only");
    float* p = y.data_as<float>();
    const float* z = nullptr;
    FusedEpilogue e = FusedEpilogue::of(n);
    if (res) {
      const Tensor& zt = ctx.input(res);
      if (zt.dtype() != DType::Float32) ctx.fail("residual input is " + dtype_name(zt.dtype()) + ", not float32");
      if (zt.shape() != y.shape()) {
        // Only possible when the pass could not see both shapes (free dims):
        // then the Add broadcasts, exactly as the unfused graph would.
        std::vector<int64_t> shape = broadcast_dims(ctx, y.shape(), zt.shape());
        std::vector<int64_t> ys = broadcast_strides(y.shape(), shape), zs = broadcast_strides(zt.shape(), shape);
        Tensor& o = ctx.allocate_output(0, DType::Float32, shape);
        const float* zp = zt.data_as<float>();
        float* op = o.data_as<float>();
        std::vector<int64_t> idx(shape.size(), 0);
        for (int64_t i = 0; i < o.numel(); ++i) {
          int64_t yo = 0, zo = 0;
          for (size_t d = 0; d < shape.size(); ++d) {
            yo += idx[d] * ys[d];
            zo += idx[d] * zs[d];
          }
          op[i] = static_cast<float>(e.apply(static_cast<float>(p[yo] + zp[zo])));
          for (size_t d = shape.size(); d-- > 0;)
            if (++idx[d] < shape[d]) break;
            else idx[d] = 0;
        }
        return;
      }
      z = zt.data_as<float>();
    }
    runtime::parallel_for(y.numel(), 1 << 14, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i) {
        double v = p[i];
        if (z) v = static_cast<double>(static_cast<float>(v + z[i]));  // the unfused Add rounds here too
        p[i] = static_cast<float>(e.apply(v));
      }
    });
    ctx.set_output(0, std::move(y));
  };
  s.prepare = [base_schema, base_inputs](const InferContext& ctx) -> std::shared_ptr<const OpState> {
    const ir::Node& n = ctx.node();
    const OpSchema* b = base_schema(n);
    if (!b->prepare) return nullptr;
    std::vector<ValueInfo> in;
    for (size_t i = 0; i < ctx.num_inputs() && i < base_inputs; ++i)
      in.push_back(ctx.has_input(i) ? ctx.input(i) : ValueInfo{});
    InferContext inner(n, std::move(in), ctx.num_outputs());
    return b->prepare(inner);
  };
  s.flops = [base_schema](const ir::Node& n, const std::vector<const Tensor*>& in, const std::vector<Tensor>& out) {
    const OpSchema* b = base_schema(n);
    return b->flops ? b->flops(n, in, out) : 0.0;
  };
  r.add(std::move(s));
}

}  // namespace

void register_fused_ops(OpRegistry& r) {
  for (const char* base : {"Conv", "ConvTranspose", "Gemm", "MatMul", "BatchNormalization"}) register_fused(r, base);
}

}  // namespace kiln::ops
