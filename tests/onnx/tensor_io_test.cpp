// Test-data files: TensorProto .pb and NumPy .npy, and their refusals.
#include <gtest/gtest.h>

#include <cstring>

#include "kiln/tensor_io.h"
#include "support/expect_error.h"
#include "support/temp_dir.h"
#include "support/test_util.h"

namespace kiln::test {
namespace {

// A version-1.0 .npy file: magic, version, header length, dict padded to 64.
std::string npy(const std::string& descr, const std::string& shape, const std::string& data) {
  std::string header = "{'descr': '" + descr + "', 'fortran_order': False, 'shape': " + shape + ", }";
  header += std::string((64 - (10 + header.size() + 1) % 64) % 64, ' ') + "\n";
  std::string b = "\x93NUMPY";
  b += '\x01';
  b += '\x00';
  b += static_cast<char>(header.size() & 0xFF);
  b += static_cast<char>(header.size() >> 8);
  return b + header + data;
}

TEST(TensorIo, PbRoundTrip) {
  TempDir dir;
  Tensor t = random_f32({2, 3, 4}, 5);
  save_tensor_pb(dir.file("t.pb"), t, "name");
  std::string name;
  Tensor back = load_tensor_file(dir.file("t.pb"), &name);
  EXPECT_EQ(name, "name");
  EXPECT_EQ(compare_tensors(back, t, 0, 0), "");
}

TEST(TensorIo, NpyDtypesAndShapes) {
  TempDir dir;
  int32_t ints[3] = {-1, 0, 7};
  write_file(dir.file("i.npy"), npy("<i4", "(3,)", std::string(reinterpret_cast<char*>(ints), sizeof ints)));
  Tensor i = load_tensor_file(dir.file("i.npy"));
  EXPECT_EQ(i.dtype(), DType::Int32);
  EXPECT_EQ(i.shape(), (std::vector<int64_t>{3}));
  EXPECT_EQ(i.data_as<int32_t>()[0], -1);
  EXPECT_EQ(i.data_as<int32_t>()[2], 7);

  double d = 2.5;
  write_file(dir.file("s.npy"), npy("<f8", "()", std::string(reinterpret_cast<char*>(&d), sizeof d)));
  Tensor s = load_tensor_file(dir.file("s.npy"));
  EXPECT_EQ(s.dtype(), DType::Float64);
  EXPECT_EQ(s.rank(), 0u);
  EXPECT_EQ(s.data_as<double>()[0], 2.5);

  write_file(dir.file("b.npy"), npy("|b1", "(2, 2)", std::string("\x01\x00\x00\x01", 4)));
  Tensor b = load_tensor_file(dir.file("b.npy"));
  EXPECT_EQ(b.dtype(), DType::Bool);
  EXPECT_EQ(b.shape(), (std::vector<int64_t>{2, 2}));
}

TEST(TensorIo, BadFilesNameTheFile) {
  TempDir dir;
  write_file(dir.file("short.npy"), npy("<f4", "(2, 3)", std::string(20, '\0')));
  expect_error([&] { load_tensor_file(dir.file("short.npy")); }, {"short.npy", "20 bytes", "2x3", "24"});
  write_file(dir.file("big_endian.npy"), npy(">f4", "(1,)", std::string(4, '\0')));
  expect_error([&] { load_tensor_file(dir.file("big_endian.npy")); }, {"big_endian.npy", "big-endian"});
  write_file(dir.file("header.npy"), std::string("\x93NUMPY\x01\x00\xff\x7f", 10));
  expect_error([&] { load_tensor_file(dir.file("header.npy")); }, {"header.npy", "truncated"});
  write_file(dir.file("garbage.pb"), "\xff\xff\xff\xff not a tensor");
  expect_error([&] { load_tensor_file(dir.file("garbage.pb")); }, {"garbage.pb", "TensorProto"});
  expect_error([&] { load_tensor_file(dir.file("absent.pb")); }, {"absent.pb", "cannot open"});
  expect_error([&] { load_tensor_file(dir.path().string()); }, {"is a directory"});
}

}  // namespace
}  // namespace kiln::test
