// SIMD reductions of ReduceSum/Mean/Max/Min (reduce_run_f32, reduce_rows_f32)
// on every compiled arch the CPU runs, against sums in double and scalar
// extrema, over lengths and widths that hit every vector tail and the
// kSumBlock boundary, with NaN and infinity operands and guarded outputs.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "kernels/simd/reduce.h"
#include "kernels/simd_test_util.h"

namespace kiln::simd {
namespace {

using testing_util::Guarded;
using testing_util::ramp;

template <class Arch>
class SimdReduce : public ::testing::Test {};
TYPED_TEST_SUITE(SimdReduce, testing_util::Archs, testing_util::ArchNames);

constexpr float kInf = std::numeric_limits<float>::infinity();

// The scalar definitions: Σ in double; max/min where a NaN wins.
float expected(const float* x, int64_t n, int64_t stride, ReduceOp op, double scale) {
  if (op == ReduceOp::Sum) {
    double s = 0;
    for (int64_t i = 0; i < n; ++i) s += x[i * stride];
    return static_cast<float>(s * scale);
  }
  float m = op == ReduceOp::Max ? -kInf : kInf;
  for (int64_t i = 0; i < n; ++i) {
    const float v = x[i * stride];
    if (std::isnan(v)) return v;
    m = op == ReduceOp::Max ? std::max(m, v) : std::min(m, v);
  }
  return m;
}

// Float partial sums of up to kSumBlock terms: |error| ≲ block · ε · Σ|x|.
void expect_close(float got, float want, double abs_sum, const std::string& what) {
  if (std::isnan(want)) {
    EXPECT_TRUE(std::isnan(got)) << what;
    return;
  }
  if (std::isinf(want)) {
    EXPECT_EQ(got, want) << what;
    return;
  }
  EXPECT_NEAR(got, want, 1e-6 * abs_sum + 1e-30) << what;
}

TYPED_TEST(SimdReduce, RunMatchesDefinitionForEveryLengthAndOp) {
  KILN_SKIP_UNLESS_ARCH(TypeParam);
  for (int64_t n : {1, 2, 7, 15, 16, 17, 31, 32, 33, 63, 64, 65, 1023, 1024, 1025, 3000}) {
    const std::vector<float> x = ramp(n, -3.f, 5.f, static_cast<uint32_t>(n));
    double abs_sum = 0;
    for (float v : x) abs_sum += std::fabs(v);
    for (ReduceOp op : {ReduceOp::Sum, ReduceOp::Max, ReduceOp::Min}) {
      const double scale = op == ReduceOp::Sum ? 1.0 / static_cast<double>(n) : 1.0;
      const float got = reduce_run_f32{}(TypeParam{}, x.data(), n, op, scale);
      expect_close(got, expected(x.data(), n, 1, op, scale), abs_sum / n, "n=" + std::to_string(n));
    }
  }
}

TYPED_TEST(SimdReduce, RunExtremaPropagateNaNAtAnyPosition) {
  KILN_SKIP_UNLESS_ARCH(TypeParam);
  const int64_t n = 53;  // three vectors of 16 and a tail
  for (int64_t at : {int64_t{0}, int64_t{5}, int64_t{16}, int64_t{40}, n - 1}) {
    std::vector<float> x = ramp(n, -1.f, 1.f);
    x[static_cast<size_t>(at)] = std::numeric_limits<float>::quiet_NaN();
    EXPECT_TRUE(std::isnan(reduce_run_f32{}(TypeParam{}, x.data(), n, ReduceOp::Max, 1.0))) << at;
    EXPECT_TRUE(std::isnan(reduce_run_f32{}(TypeParam{}, x.data(), n, ReduceOp::Min, 1.0))) << at;
  }
  std::vector<float> x = ramp(n, -1.f, 1.f);
  x[9] = kInf;
  x[30] = -kInf;
  EXPECT_EQ(reduce_run_f32{}(TypeParam{}, x.data(), n, ReduceOp::Max, 1.0), kInf);
  EXPECT_EQ(reduce_run_f32{}(TypeParam{}, x.data(), n, ReduceOp::Min, 1.0), -kInf);
}

TYPED_TEST(SimdReduce, RowsMatchDefinitionForEveryWidthAndOp) {
  KILN_SKIP_UNLESS_ARCH(TypeParam);
  for (int64_t rows : {1, 3, 1024, 1500}) {
    for (int64_t n : {1, 5, 15, 16, 17, 47, 63, 64, 65, 80, 129}) {
      const int64_t ld = n + 3;  // rows padded: the kernel must read only n of each
      const std::vector<float> x = ramp(rows * ld, -2.f, 2.f, static_cast<uint32_t>(rows + n));
      for (ReduceOp op : {ReduceOp::Sum, ReduceOp::Max, ReduceOp::Min}) {
        const double scale = op == ReduceOp::Sum ? 0.5 : 1.0;
        Guarded y(n);
        reduce_rows_f32{}(TypeParam{}, x.data(), rows, ld, n, op, scale, y.data());
        ASSERT_TRUE(y.guards_intact()) << rows << "x" << n;
        for (int64_t j = 0; j < n; ++j) {
          double abs_sum = 0;
          for (int64_t r = 0; r < rows; ++r) abs_sum += std::fabs(x[r * ld + j]);
          expect_close(y[j], expected(x.data() + j, rows, ld, op, scale), abs_sum,
                       std::to_string(rows) + "x" + std::to_string(n) + " column " + std::to_string(j));
        }
      }
    }
  }
}

TYPED_TEST(SimdReduce, RowsNaNStaysInItsColumn) {
  KILN_SKIP_UNLESS_ARCH(TypeParam);
  const int64_t rows = 9, n = 37;
  std::vector<float> x = ramp(rows * n, -1.f, 1.f);
  x[4 * n + 20] = std::numeric_limits<float>::quiet_NaN();  // row 4, column 20 (second vector)
  x[8 * n + 36] = std::numeric_limits<float>::quiet_NaN();  // last row, tail column
  for (ReduceOp op : {ReduceOp::Sum, ReduceOp::Max, ReduceOp::Min}) {
    Guarded y(n);
    reduce_rows_f32{}(TypeParam{}, x.data(), rows, n, n, op, 1.0, y.data());
    ASSERT_TRUE(y.guards_intact());
    for (int64_t j = 0; j < n; ++j) EXPECT_EQ(std::isnan(y[j]), j == 20 || j == 36) << j;
  }
}

// The columns a call computes must not change any column's value: a split
// of the outputs (threads) gives the same bits.
TYPED_TEST(SimdReduce, RowsResultDoesNotDependOnTheColumnSplit) {
  KILN_SKIP_UNLESS_ARCH(TypeParam);
  const int64_t rows = 2100, n = 100;
  const std::vector<float> x = ramp(rows * n, -1.f, 3.f, 7);
  Guarded whole(n), parts(n);
  reduce_rows_f32{}(TypeParam{}, x.data(), rows, n, n, ReduceOp::Sum, 1.0, whole.data());
  for (int64_t j0 : {0, 13, 77}) {
    const int64_t j1 = j0 == 0 ? 13 : j0 == 13 ? 77 : n;
    reduce_rows_f32{}(TypeParam{}, x.data() + j0, rows, n, j1 - j0, ReduceOp::Sum, 1.0, parts.data() + j0);
  }
  for (int64_t j = 0; j < n; ++j) EXPECT_EQ(whole[j], parts[j]) << j;
}

}  // namespace
}  // namespace kiln::simd
