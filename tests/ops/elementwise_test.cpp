// Elementwise ops: broadcasting against a naive index computation, integer
// semantics (division, wraparound, Pow), comparisons and logic, Max/Min/Sum/
// Mean, Where, Cast/CastLike edge values, legacy (opset < 7) broadcasting,
// and errors.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>

#include "support/model_builder.h"
#include "support/test_util.h"

namespace kiln::test {
namespace {

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();

template <class T>
Tensor make(DType dt, std::vector<int64_t> shape, std::vector<T> v) {
  Tensor t(dt, std::move(shape));
  if (static_cast<int64_t>(v.size()) != t.numel()) throw Error("make: value count does not match shape");
  if (!v.empty()) std::memcpy(t.data(), v.data(), v.size() * sizeof(T));
  return t;
}

template <class T>
std::vector<T> values(const Tensor& t) {
  EXPECT_EQ(dtype_size(t.dtype()), sizeof(T));
  const T* p = t.data_as<T>();
  return std::vector<T>(p, p + t.numel());
}

Tensor run1(const std::string& op, const std::vector<Tensor>& in,
            const std::function<void(onnx::NodeProto&)>& attrs = {}, int opset = 17) {
  return run_op(op, in, 1, attrs, opset)[0];
}

// ---- broadcasting -------------------------------------------------------------------

// Output of numpy broadcasting computed the slow way: per output element,
// map its multi-index into each input (index 0 along size-1 dims).
std::vector<float> naive_binary(const Tensor& a, const Tensor& b, std::vector<int64_t>& out_shape,
                                float (*f)(float, float)) {
  size_t r = std::max(a.rank(), b.rank());
  auto dim = [&](const Tensor& t, size_t i) { return i < r - t.rank() ? int64_t{1} : t.shape()[i - (r - t.rank())]; };
  out_shape.assign(r, 1);
  for (size_t i = 0; i < r; ++i) out_shape[i] = dim(a, i) == 1 ? dim(b, i) : dim(a, i);
  int64_t n = checked_numel(out_shape);
  std::vector<float> out(n);
  for (int64_t o = 0; o < n; ++o) {
    int64_t rem = o, ia = 0, ib = 0, sa = 1, sb = 1;
    for (size_t i = r; i-- > 0;) {
      int64_t idx = rem % out_shape[i];
      rem /= out_shape[i];
      ia += (dim(a, i) == 1 ? 0 : idx) * sa;
      ib += (dim(b, i) == 1 ? 0 : idx) * sb;
      sa *= dim(a, i);
      sb *= dim(b, i);
    }
    out[o] = f(a.data_as<float>()[ia], b.data_as<float>()[ib]);
  }
  return out;
}

struct ShapePair {
  std::vector<int64_t> a, b;
};

TEST(ElementwiseBroadcast, MatchesNaiveIndexingOverAwkwardShapes) {
  const std::vector<ShapePair> cases = {
      {{2, 3}, {}},                      // scalar right
      {{}, {2, 3}},                      // scalar left
      {{}, {}},                          // both scalars
      {{2, 3, 4}, {4}},                  // trailing
      {{2, 3, 4}, {3, 1}},               // middle
      {{3, 1}, {1, 4}},                  // both-sided
      {{2, 1, 4, 1}, {1, 3, 1, 5}},      // alternating
      {{2, 3, 5, 7}, {1, 3, 1, 1}},      // per-channel (NCHW bias)
      {{2, 3, 5, 7}, {2, 3, 1, 1}},      // per-sample per-channel (SE block scale)
      {{1, 1, 1}, {4, 1, 6}},            // all-ones against broadcast
      {{0, 3}, {1, 3}},                  // empty
      {{5, 7}, {5, 7}},                  // equal
      {{2, 64, 33, 17}, {64, 1, 1}},     // large enough to be split over threads
      {{3, 1, 40000}, {1, 2, 40000}},    // large, broadcast in a middle dim
  };
  for (const auto& c : cases) {
    Tensor a = random_f32(c.a, 1), b = random_f32(c.b, 2);
    std::vector<int64_t> shape;
    for (auto [op, f] : {std::pair<const char*, float (*)(float, float)>{"Add", [](float x, float y) { return x + y; }},
                         {"Sub", [](float x, float y) { return x - y; }},
                         {"Mul", [](float x, float y) { return x * y; }},
                         {"Div", [](float x, float y) { return x / y; }}}) {
      std::vector<float> want = naive_binary(a, b, shape, f);
      Tensor got = run1(op, {a, b});
      ASSERT_EQ(got.shape(), shape) << op << " " << shape_to_string(c.a) << " vs " << shape_to_string(c.b);
      EXPECT_EQ(values<float>(got), want) << op << " " << shape_to_string(c.a) << " vs " << shape_to_string(c.b);
    }
  }
}

TEST(ElementwiseBroadcast, ResultsDoNotDependOnThreadCount) {
  Tensor a = random_f32({4, 16, 64, 65}, 3), b = random_f32({16, 1, 65}, 4);
  ModelBuilder mb(17);
  mb.input("a", DType::Float32, a.shape()).input("b", DType::Float32, b.shape()).output("y");
  mb.node("Mul", {"a", "b"}, {"y"});
  SessionOptions one, two;
  one.threads = 1;
  two.threads = 2;
  Tensor y1 = mb.session(one).run({a, b})[0], y2 = mb.session(two).run({a, b})[0];
  EXPECT_EQ(compare_tensors(y1, y2, 0, 0), "");
}

TEST(ElementwiseBroadcast, IncompatibleShapesAreRefused) {
  EXPECT_THROW(run1("Add", {random_f32({2, 3}, 1), random_f32({4}, 2)}), Error);
  EXPECT_THROW(run1("Where", {make<uint8_t>(DType::Bool, {2}, {1, 0}), random_f32({3}, 1), random_f32({1}, 2)}),
               Error);
}

TEST(ElementwiseBroadcast, DynamicDimsResolveAtRun) {
  ModelBuilder mb(17);
  mb.input("a", DType::Float32, {-1, 3}).input("b", DType::Float32, {-1, 1}).output("y");
  mb.node("Add", {"a", "b"}, {"y"});
  Session s = mb.session();
  Tensor y = s.run({make_f32({2, 3}, {1, 2, 3, 4, 5, 6}), make_f32({2, 1}, {10, 20})})[0];
  EXPECT_EQ(values<float>(y), (std::vector<float>{11, 12, 13, 24, 25, 26}));
  EXPECT_THROW(s.run({make_f32({2, 3}, {1, 2, 3, 4, 5, 6}), make_f32({3, 1}, {1, 2, 3})}), Error);
}

// ---- legacy broadcasting (opset < 7) -------------------------------------------------------

TEST(ElementwiseLegacy, AxisAndSuffixBroadcast) {
  Tensor a = random_f32({2, 3, 4, 5}, 5);
  Tensor b34 = random_f32({3, 4}, 6);
  Tensor y = run1("Add", {a, b34}, [](onnx::NodeProto& n) { attr(n, "broadcast", int64_t{1}); attr(n, "axis", int64_t{1}); }, 6);
  ASSERT_EQ(y.shape(), a.shape());
  for (int64_t i = 0; i < a.numel(); ++i) {
    int64_t bi = (i / 5) % 12;  // (c, h) of (n, c, h, w)
    ASSERT_EQ(y.data_as<float>()[i], a.data_as<float>()[i] + b34.data_as<float>()[bi]);
  }
  Tensor b5 = random_f32({5}, 7);
  Tensor z = run1("Mul", {a, b5}, [](onnx::NodeProto& n) { attr(n, "broadcast", int64_t{1}); }, 1);
  for (int64_t i = 0; i < a.numel(); ++i) ASSERT_EQ(z.data_as<float>()[i], a.data_as<float>()[i] * b5.data_as<float>()[i % 5]);
}

TEST(ElementwiseLegacy, MismatchesAreRefused) {
  Tensor a = random_f32({2, 3}, 1);
  // broadcast=0 demands equal shapes.
  EXPECT_THROW(run1("Add", {a, random_f32({3}, 2)}, {}, 6), Error);
  // Suffix match fails: B (2) against A's last dim 3.
  EXPECT_THROW(run1("Add", {a, random_f32({2}, 2)}, [](onnx::NodeProto& n) { attr(n, "broadcast", int64_t{1}); }, 6),
               Error);
  // With axis=0 the same B matches.
  Tensor y = run1("Sub", {a, make_f32({2}, {1, 2})}, [](onnx::NodeProto& n) {
    attr(n, "broadcast", int64_t{1});
    attr(n, "axis", int64_t{0});
  }, 6);
  EXPECT_FLOAT_EQ(y.data_as<float>()[4], a.data_as<float>()[4] - 2);
}

// ---- integer arithmetic ----------------------------------------------------------------------

TEST(ElementwiseInt, DivisionTruncatesTowardZero) {
  Tensor a = make_i64({4}, {7, -7, 7, -7}), b = make_i64({4}, {2, 2, -2, -2});
  EXPECT_EQ(values<int64_t>(run1("Div", {a, b})), (std::vector<int64_t>{3, -3, -3, 3}));
  Tensor a32 = make<int32_t>(DType::Int32, {3}, {-9, 9, std::numeric_limits<int32_t>::min()});
  Tensor b32 = make<int32_t>(DType::Int32, {3}, {4, -4, -1});
  EXPECT_EQ(values<int32_t>(run1("Div", {a32, b32})),
            (std::vector<int32_t>{-2, -2, std::numeric_limits<int32_t>::min()}));  // INT_MIN / -1 wraps
  Tensor u8 = make<uint8_t>(DType::UInt8, {2}, {255, 7});
  EXPECT_EQ(values<uint8_t>(run1("Div", {u8, make<uint8_t>(DType::UInt8, {}, {2})})), (std::vector<uint8_t>{127, 3}));
}

TEST(ElementwiseInt, DivisionByZeroIsAnError) {
  try {
    run1("Div", {make_i64({2}, {1, 2}), make_i64({2}, {1, 0})});
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("division by zero"), std::string::npos) << e.what();
  }
  // Float division by zero is IEEE: inf.
  EXPECT_EQ(values<float>(run1("Div", {make_f32({1}, {1}), make_f32({1}, {0})}))[0], kInf);
}

TEST(ElementwiseInt, AddSubMulWrapAround) {
  const int32_t mx = std::numeric_limits<int32_t>::max(), mn = std::numeric_limits<int32_t>::min();
  Tensor a = make<int32_t>(DType::Int32, {2}, {mx, mn}), one = make<int32_t>(DType::Int32, {}, {1});
  EXPECT_EQ(values<int32_t>(run1("Add", {a, one})), (std::vector<int32_t>{mn, mn + 1}));
  EXPECT_EQ(values<int32_t>(run1("Sub", {a, one})), (std::vector<int32_t>{mx - 1, mx}));
  Tensor u16 = make<uint16_t>(DType::UInt16, {1}, {65535});
  EXPECT_EQ(values<uint16_t>(run1("Mul", {u16, u16})), (std::vector<uint16_t>{1}));  // 65535² mod 2^16
  Tensor i8 = make<int8_t>(DType::Int8, {2}, {100, -128});
  EXPECT_EQ(values<int8_t>(run1("Add", {i8, i8})), (std::vector<int8_t>{-56, 0}));
  EXPECT_EQ(values<int8_t>(run1("Neg", {i8})), (std::vector<int8_t>{-100, -128}));
  EXPECT_EQ(values<int8_t>(run1("Abs", {i8})), (std::vector<int8_t>{100, -128}));
}

TEST(ElementwiseInt, IntegerTypesNeedTheirOpset) {
  Tensor i8 = make<int8_t>(DType::Int8, {1}, {1});
  EXPECT_NO_THROW(run1("Add", {i8, i8}, {}, 14));
  EXPECT_THROW(run1("Add", {i8, i8}, {}, 13), Error);  // int8 Add arrives in opset 14
  Tensor i32 = make<int32_t>(DType::Int32, {1}, {1});
  EXPECT_NO_THROW(run1("Add", {i32, i32}, {}, 7));
  EXPECT_THROW(run1("Add", {i32, i32}, {}, 1), Error);  // opset 1: floats only
}

// ---- Pow ----------------------------------------------------------------------------------

TEST(ElementwisePow, MixedDtypes) {
  Tensor f = make_f32({3}, {2, 3, -2});
  Tensor ei = make_i64({3}, {3, -1, 2});
  EXPECT_EQ(values<float>(run1("Pow", {f, ei})), (std::vector<float>{8, 1.f / 3, 4}));
  Tensor bi = make<int32_t>(DType::Int32, {3}, {2, 3, 4});
  Tensor ef = make_f32({3}, {0.5f, 2, -1});
  // int base, float exponent: computed in double, truncated to the base dtype.
  EXPECT_EQ(values<int32_t>(run1("Pow", {bi, ef})), (std::vector<int32_t>{1, 9, 0}));
  Tensor e32 = make<int32_t>(DType::Int32, {3}, {10, 3, 0});
  EXPECT_EQ(values<int32_t>(run1("Pow", {bi, e32})), (std::vector<int32_t>{1024, 27, 1}));
  EXPECT_EQ(run1("Pow", {bi, e32}).dtype(), DType::Int32);
  EXPECT_EQ(run1("Pow", {f, make<uint8_t>(DType::UInt8, {}, {2})}).dtype(), DType::Float32);
}

TEST(ElementwisePow, IntegerEdgeCases) {
  Tensor b = make_i64({5}, {2, 1, -1, -1, 3});
  Tensor e = make_i64({5}, {-1, -5, -3, -2, 40});
  // 3^40 wraps modulo 2^64.
  uint64_t p = 1;
  for (int i = 0; i < 40; ++i) p *= 3;
  EXPECT_EQ(values<int64_t>(run1("Pow", {b, e})), (std::vector<int64_t>{0, 1, -1, 1, static_cast<int64_t>(p)}));
  EXPECT_THROW(run1("Pow", {make_i64({1}, {0}), make_i64({1}, {-1})}), Error);
}

TEST(ElementwisePow, SquareFastPathEqualsGeneral) {
  Tensor x = random_f32({1000}, 9, -10, 10);
  Tensor sq = run1("Pow", {x, make_f32({}, {2})});
  Tensor gen = run1("Pow", {x, make<double>(DType::Float64, {1}, {2.0})});  // float64 exponent
  for (int64_t i = 0; i < x.numel(); ++i) {
    float v = x.data_as<float>()[i];
    ASSERT_EQ(sq.data_as<float>()[i], v * v);
    ASSERT_EQ(gen.data_as<float>()[i], v * v);
  }
  EXPECT_TRUE(std::isnan(values<float>(run1("Pow", {make_f32({1}, {-8}), make_f32({1}, {1.f / 3})}))[0]));
}

TEST(ElementwisePow, ExponentDtypeRestrictedBeforeOpset12) {
  EXPECT_THROW(run1("Pow", {make_f32({1}, {2}), make_i64({1}, {2})}, {}, 11), Error);
  EXPECT_THROW(run1("Pow", {make_i64({1}, {2}), make_i64({1}, {2})}, {}, 11), Error);
}

// ---- unary math ---------------------------------------------------------------------------

TEST(ElementwiseUnary, IeeeSemantics) {
  Tensor x = make_f32({4}, {-1, 0, 2.5f, -2.5f});
  auto sq = values<float>(run1("Sqrt", {x}));
  EXPECT_TRUE(std::isnan(sq[0]));
  EXPECT_EQ(sq[1], 0);
  EXPECT_EQ(values<float>(run1("Log", {x}))[1], -kInf);
  EXPECT_EQ(values<float>(run1("Reciprocal", {x}))[1], kInf);
  EXPECT_EQ(values<float>(run1("Floor", {x})), (std::vector<float>{-1, 0, 2, -3}));
  EXPECT_EQ(values<float>(run1("Ceil", {x})), (std::vector<float>{-1, 0, 3, -2}));
  EXPECT_EQ(values<float>(run1("Abs", {x})), (std::vector<float>{1, 0, 2.5f, 2.5f}));
  EXPECT_EQ(values<float>(run1("Neg", {x})), (std::vector<float>{1, -0.f, -2.5f, 2.5f}));
  EXPECT_FLOAT_EQ(values<float>(run1("Exp", {x}))[2], std::exp(2.5f));
  Tensor d = make<double>(DType::Float64, {1}, {2.0});
  EXPECT_EQ(values<double>(run1("Sqrt", {d}))[0], std::sqrt(2.0));
}

TEST(ElementwiseUnary, WrongDtypeNamesIt) {
  try {
    run1("Sqrt", {make_i64({1}, {4})});
    FAIL() << "expected an error";
  } catch (const Error& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("int64"), std::string::npos) << m;
    EXPECT_NE(m.find("Sqrt"), std::string::npos) << m;
  }
  EXPECT_THROW(run1("Neg", {make<uint32_t>(DType::UInt32, {1}, {4})}), Error);  // Neg has no unsigned types
}

// ---- comparisons and logic --------------------------------------------------------------------

TEST(ElementwiseCompare, NumericAndNaN) {
  Tensor a = make_f32({4}, {1, kNaN, 3, -0.f}), b = make_f32({4}, {1, kNaN, 2, 0});
  EXPECT_EQ(values<uint8_t>(run1("Equal", {a, b})), (std::vector<uint8_t>{1, 0, 0, 1}));
  EXPECT_EQ(values<uint8_t>(run1("Less", {a, b})), (std::vector<uint8_t>{0, 0, 0, 0}));
  EXPECT_EQ(values<uint8_t>(run1("Greater", {a, b})), (std::vector<uint8_t>{0, 0, 1, 0}));
  EXPECT_EQ(values<uint8_t>(run1("LessOrEqual", {a, b})), (std::vector<uint8_t>{1, 0, 0, 1}));
  EXPECT_EQ(values<uint8_t>(run1("GreaterOrEqual", {a, b})), (std::vector<uint8_t>{1, 0, 1, 1}));
  EXPECT_EQ(run1("Equal", {a, b}).dtype(), DType::Bool);
  Tensor i = make_i64({2, 1}, {1, 5}), j = make_i64({3}, {0, 1, 6});
  Tensor lt = run1("Less", {i, j});
  EXPECT_EQ(lt.shape(), (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(values<uint8_t>(lt), (std::vector<uint8_t>{0, 0, 1, 0, 0, 1}));
}

TEST(ElementwiseCompare, LogicOps) {
  Tensor a = make<uint8_t>(DType::Bool, {2, 2}, {0, 0, 1, 1}), b = make<uint8_t>(DType::Bool, {2}, {0, 1});
  EXPECT_EQ(values<uint8_t>(run1("And", {a, b})), (std::vector<uint8_t>{0, 0, 0, 1}));
  EXPECT_EQ(values<uint8_t>(run1("Or", {a, b})), (std::vector<uint8_t>{0, 1, 1, 1}));
  EXPECT_EQ(values<uint8_t>(run1("Xor", {a, b})), (std::vector<uint8_t>{0, 1, 1, 0}));
  EXPECT_EQ(values<uint8_t>(run1("Not", {b})), (std::vector<uint8_t>{1, 0}));
  EXPECT_EQ(values<uint8_t>(run1("Equal", {a, b})), (std::vector<uint8_t>{1, 0, 0, 1}));
  EXPECT_THROW(run1("And", {make_f32({1}, {1}), make_f32({1}, {1})}), Error);
  EXPECT_THROW(run1("Less", {make_i64({1}, {1}), make_i64({1}, {1})}, {}, 8), Error);  // ints from opset 9
}

// ---- Max / Min / Sum / Mean ---------------------------------------------------------------------

TEST(ElementwiseVariadic, MaxMinPropagateNaN) {
  Tensor a = make_f32({3}, {1, kNaN, 3}), b = make_f32({3}, {kNaN, 2, 1});
  auto mx = values<float>(run1("Max", {a, b}));
  auto mn = values<float>(run1("Min", {a, b}));
  for (int i = 0; i < 2; ++i) {
    EXPECT_TRUE(std::isnan(mx[i])) << i;
    EXPECT_TRUE(std::isnan(mn[i])) << i;
  }
  EXPECT_EQ(mx[2], 3);
  EXPECT_EQ(mn[2], 1);
}

TEST(ElementwiseVariadic, ThreeInputsBroadcast) {
  Tensor a = make_f32({2, 1}, {1, 10}), b = make_f32({3}, {5, 0, 20}), c = make_f32({}, {4});
  auto run3 = [&](const char* op) { return run_op(op, {a, b, c}, 1)[0]; };
  Tensor mx = run3("Max");
  EXPECT_EQ(mx.shape(), (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(values<float>(mx), (std::vector<float>{5, 4, 20, 10, 10, 20}));
  EXPECT_EQ(values<float>(run3("Min")), (std::vector<float>{1, 0, 1, 4, 0, 4}));
  EXPECT_EQ(values<float>(run3("Sum")), (std::vector<float>{10, 5, 25, 19, 14, 34}));
  EXPECT_EQ(values<float>(run3("Mean")), (std::vector<float>{10.f / 3, 5.f / 3, 25.f / 3, 19.f / 3, 14.f / 3, 34.f / 3}));
  EXPECT_EQ(values<float>(run_op("Sum", {b}, 1)[0]), (std::vector<float>{5, 0, 20}));
  Tensor i = make<int32_t>(DType::Int32, {2}, {-3, 7}), j = make<int32_t>(DType::Int32, {2}, {2, 9});
  EXPECT_EQ(values<int32_t>(run1("Max", {i, j})), (std::vector<int32_t>{2, 9}));
}

TEST(ElementwiseVariadic, OldOpsetsNeedEqualShapes) {
  EXPECT_THROW(run_op("Max", {make_f32({2}, {1, 2}), make_f32({1}, {1})}, 1, {}, 6), Error);
  EXPECT_NO_THROW(run_op("Max", {make_f32({2}, {1, 2}), make_f32({1}, {1})}, 1, {}, 8));
  EXPECT_THROW(run_op("Sum", {make_i64({1}, {1}), make_i64({1}, {1})}, 1), Error);  // Sum is float-only
}

// ---- Where ---------------------------------------------------------------------------------------

TEST(ElementwiseWhere, BroadcastsAllThreeInputs) {
  Tensor cond = make<uint8_t>(DType::Bool, {2, 1}, {1, 0});
  Tensor x = make_f32({1, 3}, {1, 2, 3});
  Tensor y = make_f32({}, {-1});
  Tensor out = run1("Where", {cond, x, y});
  EXPECT_EQ(out.shape(), (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(values<float>(out), (std::vector<float>{1, 2, 3, -1, -1, -1}));
  Tensor xi = make_i64({3}, {1, 2, 3}), yi = make_i64({2, 1}, {7, 8});
  Tensor c3 = make<uint8_t>(DType::Bool, {3}, {0, 1, 0});
  EXPECT_EQ(values<int64_t>(run1("Where", {c3, xi, yi})), (std::vector<int64_t>{7, 2, 7, 8, 2, 8}));
  EXPECT_THROW(run1("Where", {make_f32({1}, {1}), x, x}), Error);  // condition must be bool
  EXPECT_THROW(run1("Where", {cond, x, make_i64({1}, {1})}), Error);  // X and Y differ
}

// ---- Cast -------------------------------------------------------------------------------------------

Tensor cast(const Tensor& x, DType to, int opset = 21) {
  return run1("Cast", {x}, [to](onnx::NodeProto& n) { attr(n, "to", static_cast<int64_t>(to)); }, opset);
}

TEST(ElementwiseCast, FloatToIntTruncatesAndIsDefinedOutOfRange) {
  Tensor x = make_f32({7}, {2.7f, -2.7f, 0.5f, -0.5f, kNaN, 1e10f, -1e10f});
  EXPECT_EQ(values<int32_t>(cast(x, DType::Int32)),
            (std::vector<int32_t>{2, -2, 0, 0, 0, std::numeric_limits<int32_t>::max(),
                                  std::numeric_limits<int32_t>::min()}));
  EXPECT_EQ(values<uint8_t>(cast(x, DType::UInt8)), (std::vector<uint8_t>{2, 0, 0, 0, 0, 255, 0}));
  // -9.99e18 is below int64's range: saturates (a static_cast would be undefined).
  EXPECT_EQ(values<int64_t>(cast(make<double>(DType::Float64, {1}, {-9.99e18}), DType::Int64))[0],
            std::numeric_limits<int64_t>::min());
}

TEST(ElementwiseCast, IntegerAndBoolConversions) {
  Tensor i = make<int32_t>(DType::Int32, {4}, {300, -1, 0, 2});
  EXPECT_EQ(values<uint8_t>(cast(i, DType::UInt8)), (std::vector<uint8_t>{44, 255, 0, 2}));  // low bits kept
  EXPECT_EQ(values<int8_t>(cast(make<int16_t>(DType::Int16, {1}, {200}), DType::Int8))[0], -56);
  EXPECT_EQ(values<uint8_t>(cast(i, DType::Bool)), (std::vector<uint8_t>{1, 1, 0, 1}));
  Tensor f = make_f32({4}, {0.f, -0.f, kNaN, 0.1f});
  EXPECT_EQ(values<uint8_t>(cast(f, DType::Bool)), (std::vector<uint8_t>{0, 0, 1, 1}));
  Tensor b = make<uint8_t>(DType::Bool, {2}, {1, 0});
  EXPECT_EQ(values<float>(cast(b, DType::Float32)), (std::vector<float>{1, 0}));
  EXPECT_EQ(values<int64_t>(cast(b, DType::Int64)), (std::vector<int64_t>{1, 0}));
  Tensor big = make<uint64_t>(DType::UInt64, {1}, {std::numeric_limits<uint64_t>::max()});
  EXPECT_EQ(values<float>(cast(big, DType::Float32))[0], 18446744073709551616.f);
  EXPECT_EQ(values<float>(cast(make<double>(DType::Float64, {2}, {1e300, 1.0 / 3}), DType::Float32)),
            (std::vector<float>{kInf, 1.f / 3}));
}

TEST(ElementwiseCast, Float16BitsRoundToNearestEven) {
  // value → IEEE binary16 bits
  const std::vector<std::pair<float, uint16_t>> cases = {
      {1.f, 0x3C00},       {-2.f, 0xC000},         {65504.f, 0x7BFF},       {65519.f, 0x7BFF},
      {65520.f, 0x7C00},   {kInf, 0x7C00},         {-kInf, 0xFC00},         {0x1p-24f, 0x0001},
      {0x1p-25f, 0x0000},  {0x1.8p-24f, 0x0002},   {0x1p-14f, 0x0400},      {1.f / 3, 0x3555},
      {1 + 0x1p-11f, 0x3C00}, {1 + 0x3p-11f, 0x3C02}, {-0.f, 0x8000},
  };
  std::vector<float> in;
  for (auto& c : cases) in.push_back(c.first);
  auto bits = values<uint16_t>(cast(make_f32({static_cast<int64_t>(in.size())}, in), DType::Float16));
  for (size_t k = 0; k < cases.size(); ++k) EXPECT_EQ(bits[k], cases[k].second) << "value " << cases[k].first;
  uint16_t nan_bits = values<uint16_t>(cast(make_f32({1}, {kNaN}), DType::Float16))[0];
  EXPECT_EQ(nan_bits & 0x7C00, 0x7C00);
  EXPECT_NE(nan_bits & 0x03FF, 0);
}

TEST(ElementwiseCast, Float16RoundTripsEveryValue) {
  std::vector<uint16_t> all(65536);
  for (int i = 0; i < 65536; ++i) all[i] = static_cast<uint16_t>(i);
  Tensor h = make<uint16_t>(DType::Float16, {65536}, all);
  Tensor f = cast(h, DType::Float32);
  Tensor back = cast(f, DType::Float16);
  auto fv = values<float>(f);
  auto bv = values<uint16_t>(back);
  for (int i = 0; i < 65536; ++i) {
    bool is_nan = (i & 0x7C00) == 0x7C00 && (i & 0x3FF);
    if (is_nan) {
      ASSERT_TRUE(std::isnan(fv[i])) << i;
      continue;
    }
    ASSERT_EQ(bv[i], i) << "bits " << i << " → " << fv[i];
  }
  EXPECT_EQ(fv[0x0001], 0x1p-24f);
  EXPECT_EQ(fv[0x3C00], 1.f);
  EXPECT_EQ(fv[0xFBFF], -65504.f);
}

TEST(ElementwiseCast, BFloat16) {
  Tensor x = make_f32({4}, {1.f, 1 + 0x1p-8f, 1 + 0x3p-8f, -kInf});
  auto bits = values<uint16_t>(cast(x, DType::BFloat16));
  EXPECT_EQ(bits, (std::vector<uint16_t>{0x3F80, 0x3F80, 0x3F82, 0xFF80}));
  Tensor b = make<uint16_t>(DType::BFloat16, {2}, {0x3F80, 0xC040});
  EXPECT_EQ(values<double>(cast(b, DType::Float64)), (std::vector<double>{1.0, -3.0}));
}

TEST(ElementwiseCast, OpsetOneNamesTheTypeAsAString) {
  Tensor y = run1("Cast", {make_f32({2}, {1.5f, -3.7f})}, [](onnx::NodeProto& n) { attr(n, "to", std::string("INT64")); }, 1);
  EXPECT_EQ(values<int64_t>(y), (std::vector<int64_t>{1, -3}));
  EXPECT_THROW(run1("Cast", {make_f32({1}, {1})}, [](onnx::NodeProto& n) { attr(n, "to", std::string("QUUX")); }, 1),
               Error);
}

TEST(ElementwiseCast, UnsupportedTargetsAreRefusedClearly) {
  for (int64_t code : {8, 17, 22}) {  // string, float8e4m3fn, int4
    try {
      run1("Cast", {make_f32({1}, {1})}, [code](onnx::NodeProto& n) { attr(n, "to", code); }, 21);
      FAIL() << "expected an error for type " << code;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("not supported"), std::string::npos) << e.what();
    }
  }
  EXPECT_THROW(run1("Cast", {make_f32({1}, {1})}), Error);  // 'to' missing
}

TEST(ElementwiseCast, CastLikeTakesTheSecondInputsDtype) {
  Tensor y = run1("CastLike", {make_f32({3}, {1.9f, -1.9f, 0}), make<int8_t>(DType::Int8, {}, {0})});
  EXPECT_EQ(y.dtype(), DType::Int8);
  EXPECT_EQ(values<int8_t>(y), (std::vector<int8_t>{1, -1, 0}));
}

// ---- errors ---------------------------------------------------------------------------------------------

TEST(ElementwiseErrors, MismatchedDtypes) {
  try {
    run1("Add", {make_f32({1}, {1}), make_i64({1}, {1})});
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("different dtypes"), std::string::npos) << e.what();
  }
  EXPECT_THROW(run1("Equal", {make_f32({1}, {1}), make<double>(DType::Float64, {1}, {1})}), Error);
}

}  // namespace
}  // namespace kiln::test
