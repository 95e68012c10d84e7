// Writes the small model used by the install and example tests:
//   x [N,3,4,4] float (N free) → Relu → Relu → y
//   w [4] initializer          → Relu        → rw
//   usage: kiln_write_test_model OUT.onnx
#include <iostream>

#include "support/model_builder.h"
#include "support/test_util.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: " << argv[0] << " OUT.onnx\n";
    return 2;
  }
  using namespace kiln::test;
  try {
    ModelBuilder b;
    b.input("x", kiln::DType::Float32, {-1, 3, 4, 4});
    b.initializer("w", make_f32({4}, {-1, 2, -3, 4}));
    b.node("Relu", {"x"}, {"h"});
    b.node("Relu", {"h"}, {"y"});
    b.node("Relu", {"w"}, {"rw"});
    b.output("y").output("rw");
    b.save(argv[1]);
  } catch (const std::exception& e) {
    std::cerr << e.what() << "\n";
    return 1;
  }
  return 0;
}
