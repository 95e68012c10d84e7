#include "kernels/reference/winograd.h"

namespace kiln::kernels::ref {

namespace {

constexpr double kBT[6][6] = {{4, 0, -5, 0, 1, 0},  {0, -4, -4, 1, 1, 0}, {0, 4, -4, -1, 1, 0},
                              {0, -2, -1, 2, 1, 0}, {0, 2, -1, -2, 1, 0}, {0, 4, 0, -5, 0, 1}};
constexpr double kG[6][3] = {{1.0 / 4, 0, 0},
                             {-1.0 / 6, -1.0 / 6, -1.0 / 6},
                             {-1.0 / 6, 1.0 / 6, -1.0 / 6},
                             {1.0 / 24, 1.0 / 12, 1.0 / 6},
                             {1.0 / 24, -1.0 / 12, 1.0 / 6},
                             {0, 0, 1}};
constexpr double kAT[4][6] = {{1, 1, 1, 1, 1, 0}, {0, 1, -1, 2, -2, 0}, {0, 1, 1, 4, 4, 0}, {0, 1, -1, 8, -8, 1}};

}  // namespace

void winograd_f4x3_filter(const float* w, int64_t M, int64_t C, float* u) {
  for (int64_t o = 0; o < M; ++o)
    for (int64_t c = 0; c < C; ++c) {
      const float* g = w + (o * C + c) * 9;
      double gg[6][3];  // G·g
      for (int i = 0; i < 6; ++i)
        for (int b = 0; b < 3; ++b) gg[i][b] = kG[i][0] * g[b] + kG[i][1] * g[3 + b] + kG[i][2] * g[6 + b];
      for (int i = 0; i < 6; ++i)
        for (int j = 0; j < 6; ++j)
          u[((6 * i + j) * M + o) * C + c] =
              static_cast<float>(gg[i][0] * kG[j][0] + gg[i][1] * kG[j][1] + gg[i][2] * kG[j][2]);
    }
}

void winograd_f4x3_input_tile(const float d[36], double v[36]) {
  double t[6][6];  // Bᵀ·d
  for (int i = 0; i < 6; ++i)
    for (int c = 0; c < 6; ++c) {
      double s = 0;
      for (int r = 0; r < 6; ++r) s += kBT[i][r] * d[6 * r + c];
      t[i][c] = s;
    }
  for (int i = 0; i < 6; ++i)
    for (int j = 0; j < 6; ++j) {
      double s = 0;
      for (int c = 0; c < 6; ++c) s += t[i][c] * kBT[j][c];
      v[6 * i + j] = s;
    }
}

void winograd_f4x3_output_tile(const double m[36], double y[16]) {
  double t[4][6];  // Aᵀ·m
  for (int a = 0; a < 4; ++a)
    for (int j = 0; j < 6; ++j) {
      double s = 0;
      for (int i = 0; i < 6; ++i) s += kAT[a][i] * m[6 * i + j];
      t[a][j] = s;
    }
  for (int a = 0; a < 4; ++a)
    for (int b = 0; b < 4; ++b) {
      double s = 0;
      for (int j = 0; j < 6; ++j) s += t[a][j] * kAT[b][j];
      y[4 * a + b] = s;
    }
}

}  // namespace kiln::kernels::ref
