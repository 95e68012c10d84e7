#include <gtest/gtest.h>

#include "kiln/kiln.h"

namespace kiln {

TEST(Tensor, AllocatesZeroedAligned) {
  Tensor t(DType::Float32, {2, 3});
  EXPECT_EQ(t.numel(), 6);
  EXPECT_EQ(t.nbytes(), 24u);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(t.data()) % 64, 0u);
  for (int i = 0; i < 6; ++i) EXPECT_EQ(t.data_as<float>()[i], 0.0f);
}

TEST(Tensor, UninitializedHasItsOwnAlignedStorageAndClonesCopy) {
  Tensor t = Tensor::uninitialized(DType::Float32, {3, 5});
  EXPECT_EQ(t.numel(), 15);
  EXPECT_EQ(t.shape(), (std::vector<int64_t>{3, 5}));
  EXPECT_EQ(reinterpret_cast<uintptr_t>(t.data()) % 64, 0u);
  for (int i = 0; i < 15; ++i) t.data_as<float>()[i] = static_cast<float>(i) * 0.5f;
  Tensor c = t.clone();
  EXPECT_NE(c.data(), t.data());
  for (int i = 0; i < 15; ++i) EXPECT_EQ(c.data_as<float>()[i], static_cast<float>(i) * 0.5f);
  EXPECT_THROW(Tensor::uninitialized(DType::Float32, {2, -1}), Error);
  EXPECT_THROW(Tensor::uninitialized(DType::String, {2}), Error);
  EXPECT_EQ(Tensor::uninitialized(DType::Int64, {0}).numel(), 0);
}

TEST(Tensor, CheckedNumelRejectsOverflowAndNegative) {
  EXPECT_THROW(checked_numel({int64_t{1} << 40, int64_t{1} << 40}), Error);
  EXPECT_THROW(checked_numel({2, -1}), Error);
  EXPECT_EQ(checked_numel({}), 1);
  EXPECT_EQ(checked_numel({3, 0, 5}), 0);
}

TEST(Tensor, ReshapeSharesStorage) {
  Tensor t(DType::Int64, {2, 3});
  Tensor r = t.reshaped({6});
  EXPECT_EQ(r.data(), t.data());
  EXPECT_THROW(t.reshaped({5}), Error);
}

TEST(DType, NamesAndSizes) {
  EXPECT_EQ(dtype_name(DType::Float32), "float32");
  EXPECT_EQ(dtype_size(DType::Int64), 8u);
  EXPECT_EQ(dtype_name(static_cast<DType>(19)), "dtype(19)");
  EXPECT_FALSE(dtype_is_supported(DType::String));
}

}  // namespace kiln
