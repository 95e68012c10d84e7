// Cast (to = a dtype attribute) and CastLike (to = the dtype of a second
// input): elementwise conversion between every numeric dtype, bool, float16
// and bfloat16.
//
// Rules (ONNX Cast): float → float rounds to nearest (±inf out of range);
// float → integer truncates toward zero (out of range is undefined in ONNX;
// kiln saturates and maps NaN to 0); integer → integer keeps the low bits
// (two's complement); anything → bool is x != 0 (NaN is true); bool → number
// is 0 or 1. float16/bfloat16 convert through float32 with round-to-nearest-
// even (double → float16 thus rounds twice). Strings, float8, 4- and 2-bit
// types and complex numbers are refused.
#include <algorithm>
#include <bit>
#include <cctype>
#include <cstring>

#include "ops/elementwise_internal.h"

namespace kiln::ops::elementwise {

namespace {

// ---- float16 / bfloat16 ---------------------------------------------------------

struct Half {};   // tag: IEEE binary16, stored as uint16_t
struct BHalf {};  // tag: bfloat16 (the top half of a float32), stored as uint16_t

float half_to_float(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1Fu, mant = h & 0x3FFu;
  if (exp == 0) {  // zero or subnormal: mant · 2^-24
    float v = std::ldexp(static_cast<float>(mant), -24);
    return sign ? -v : v;
  }
  if (exp == 31) return std::bit_cast<float>(sign | 0x7F800000u | (mant << 13));  // inf / NaN
  return std::bit_cast<float>(sign | ((exp + 112) << 23) | (mant << 13));          // rebias 15 → 127
}

uint16_t float_to_half(float f) {
  const uint32_t x = std::bit_cast<uint32_t>(f);
  const auto sign = static_cast<uint16_t>((x >> 16) & 0x8000u);
  const uint32_t ax = x & 0x7FFFFFFFu;
  if (ax > 0x7F800000u) return sign | 0x7E00u | static_cast<uint16_t>((ax >> 13) & 0x3FFu);  // NaN stays NaN
  if (ax >= 0x477FF000u) return sign | 0x7C00u;  // |f| >= 65520 rounds to inf
  if (ax < 0x38800000u) {                        // |f| < 2^-14: a subnormal half, mant = |f| / 2^-24
    float scaled = std::bit_cast<float>(ax) * 16777216.0f;  // exact: a power-of-two scaling
    return sign | static_cast<uint16_t>(std::nearbyint(scaled));  // round half to even (default mode)
  }
  // Normal: rebias the exponent (127 → 15) and round 23 → 10 mantissa bits to nearest even.
  uint32_t r = ax - 0x38000000u;
  r += 0x0FFFu + ((r >> 13) & 1u);
  return sign | static_cast<uint16_t>(r >> 13);
}

float bfloat_to_float(uint16_t b) { return std::bit_cast<float>(static_cast<uint32_t>(b) << 16); }

uint16_t float_to_bfloat(float f) {
  const uint32_t x = std::bit_cast<uint32_t>(f);
  if ((x & 0x7FFFFFFFu) > 0x7F800000u) return static_cast<uint16_t>((x >> 16) | 0x40u);  // quiet NaN
  return static_cast<uint16_t>((x + 0x7FFFu + ((x >> 16) & 1u)) >> 16);                  // round to nearest even
}

// ---- dtype plumbing -------------------------------------------------------------

template <class T>
using cast_storage_t = std::conditional_t<std::is_same_v<T, Half> || std::is_same_v<T, BHalf>, uint16_t, storage_t<T>>;

template <class F>
void dispatch_cast(DType t, const ComputeContext& ctx, F&& f) {
  if (t == DType::Float16) f(Half{});
  else if (t == DType::BFloat16) f(BHalf{});
  else dispatch_all(t, ctx, f);
}

// The value of one stored element of tag S, as a C++ arithmetic value.
template <class S>
auto load(cast_storage_t<S> raw) {
  if constexpr (std::is_same_v<S, Half>) return half_to_float(raw);
  else if constexpr (std::is_same_v<S, BHalf>) return bfloat_to_float(raw);
  else return static_cast<S>(raw);  // bool: any nonzero byte is true
}

// Stores value v as tag D.
template <class D, class V>
cast_storage_t<D> store(V v) {
  if constexpr (std::is_same_v<D, Half>) return float_to_half(convert<float>(v));
  else if constexpr (std::is_same_v<D, BHalf>) return float_to_bfloat(convert<float>(v));
  else if constexpr (std::is_same_v<D, bool>) return convert<bool>(v) ? 1 : 0;
  else return convert<D>(v);
}

bool castable(DType t) {
  return t == DType::Bool || t == DType::Float16 || t == DType::BFloat16 || is_float(t) || is_integer(t);
}

// Names of TensorProto data types kiln has no DType for, for error messages.
std::string onnx_type_name(int64_t code) {
  switch (code) {
    case 8: return "string";
    case 14: return "complex64";
    case 15: return "complex128";
    case 17: return "float8e4m3fn";
    case 18: return "float8e4m3fnuz";
    case 19: return "float8e5m2";
    case 20: return "float8e5m2fnuz";
    case 21: return "uint4";
    case 22: return "int4";
    case 23: return "float4e2m1";
    case 24: return "float8e8m0";
    case 25: return "uint2";
    case 26: return "int2";
    default: return dtype_name(static_cast<DType>(code));
  }
}

// Cast-1 names the target type by its TensorProto enum name ("FLOAT", …).
int64_t type_code_from_name(const ir::Node& node, std::string name) {
  static const std::pair<const char*, int64_t> kNames[] = {
      {"FLOAT", 1},      {"UINT8", 2},   {"INT8", 3},    {"UINT16", 4},     {"INT16", 5},       {"INT32", 6},
      {"INT64", 7},      {"STRING", 8},  {"BOOL", 9},    {"FLOAT16", 10},   {"DOUBLE", 11},     {"UINT32", 12},
      {"UINT64", 13},    {"COMPLEX64", 14}, {"COMPLEX128", 15}, {"BFLOAT16", 16}};
  std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::toupper(c); });
  for (const auto& [n, code] : kNames)
    if (name == n) return code;
  throw Error(node.describe() + ": attribute 'to' names unknown data type '" + name + "'");
}

// The target dtype of a Cast node, validated.
DType cast_target(const ir::Node& node) {
  const ir::Attribute* a = node.find_attr("to");
  if (!a) throw Error(node.describe() + ": required attribute 'to' is missing");
  int64_t code = a->kind == ir::Attribute::Kind::String ? type_code_from_name(node, a->s) : node.attr_int("to", 0);
  auto t = static_cast<DType>(code);
  if (code <= 0 || code > 1000 || !castable(t))
    throw Error(node.describe() + ": casting to " + onnx_type_name(code) + " (TensorProto type " +
                std::to_string(code) + ") is not supported by kiln");
  return t;
}

void check_source(const InferContext& ctx, size_t i) {
  DType t = ctx.input(i).dtype;
  if (!castable(t)) ctx.fail("casting from " + dtype_name(t) + " is not supported by kiln");
}

void cast_tensor(const ComputeContext& ctx, const Tensor& x, Tensor& y) {
  if (x.dtype() == y.dtype()) {
    if (x.nbytes()) std::memcpy(y.data(), x.data(), x.nbytes());
    return;
  }
  dispatch_cast(x.dtype(), ctx, [&](auto src_tag) {
    using S = decltype(src_tag);
    dispatch_cast(y.dtype(), ctx, [&](auto dst_tag) {
      using D = decltype(dst_tag);
      unary_apply(x.data_as<cast_storage_t<S>>(), y.data_as<cast_storage_t<D>>(), x.numel(),
                  [](cast_storage_t<S> v) { return store<D>(load<S>(v)); });
    });
  });
}

}  // namespace

void register_cast(OpRegistry& r) {
  OpSchema cast;
  cast.op_type = "Cast";
  cast.since_version = 1;
  cast.min_inputs = cast.max_inputs = 1;
  cast.infer = [](InferContext& ctx) {
    check_source(ctx, 0);
    ctx.set_output(0, cast_target(ctx.node()), in_shape(ctx, 0));
  };
  cast.compute = [](ComputeContext& ctx) {
    const Tensor& x = ctx.input(0);
    Tensor& y = ctx.allocate_output(0, cast_target(ctx.node()), x.shape());
    cast_tensor(ctx, x, y);
  };
  r.add(std::move(cast));

  OpSchema like;
  like.op_type = "CastLike";
  like.since_version = 15;
  like.min_inputs = like.max_inputs = 2;
  like.infer = [](InferContext& ctx) {
    check_source(ctx, 0);
    DType to = ctx.input(1).dtype;
    if (!castable(to)) ctx.fail("casting to " + dtype_name(to) + " (the dtype of input 1) is not supported by kiln");
    ctx.set_output(0, to, in_shape(ctx, 0));
  };
  like.compute = [](ComputeContext& ctx) {
    const Tensor& x = ctx.input(0);
    Tensor& y = ctx.allocate_output(0, ctx.input(1).dtype(), x.shape());
    cast_tensor(ctx, x, y);
  };
  r.add(std::move(like));
}

}  // namespace kiln::ops::elementwise
