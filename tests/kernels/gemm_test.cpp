#include <gtest/gtest.h>

#include <limits>

#include "kernels/reference/gemm.h"

namespace kiln::kernels::ref {

TEST(RefGemm, SmallKnownProductAllTransposes) {
  // A = [[1,2,3],[4,5,6]] (2x3), B = [[1,0],[0,1],[1,1]] (3x2): A·B = [[4,5],[10,11]]
  const float A[] = {1, 2, 3, 4, 5, 6}, At[] = {1, 4, 2, 5, 3, 6};
  const float B[] = {1, 0, 0, 1, 1, 1}, Bt[] = {1, 0, 1, 0, 1, 1};
  const float want[] = {4, 5, 10, 11};
  for (int ta = 0; ta < 2; ++ta)
    for (int tb = 0; tb < 2; ++tb) {
      float C[4];
      gemm_f32(ta, tb, 2, 2, 3, 1.f, ta ? At : A, ta ? 2 : 3, tb ? Bt : B, tb ? 3 : 2, 0.f, C, 2);
      for (int i = 0; i < 4; ++i) EXPECT_EQ(C[i], want[i]) << "trans_a " << ta << " trans_b " << tb;
    }
}

TEST(RefGemm, AlphaBetaAndBetaZeroIgnoresC) {
  const float A[] = {1, 2}, B[] = {3, 4};  // 1x2 · 2x1 = 11
  float C[] = {100.f};
  gemm_f32(false, false, 1, 1, 2, 2.f, A, 2, B, 1, 0.5f, C, 1);
  EXPECT_EQ(C[0], 72.f);
  float D[] = {std::numeric_limits<float>::quiet_NaN()};
  gemm_f32(false, false, 1, 1, 2, 1.f, A, 2, B, 1, 0.f, D, 1);
  EXPECT_EQ(D[0], 11.f);
}

}  // namespace kiln::kernels::ref
