// Uses an installed kiln through its public headers only: loads a model, runs
// it, checks the answer, and checks that errors arrive as kiln::Error.
//   kiln-consumer MODEL.onnx WORK_DIR
// MODEL: x [N,3,4,4] → Relu → Relu → y, and rw = Relu of an initializer.
#include <algorithm>
#include <iostream>
#include <string>
#include <vector>

#include <kiln/kiln.h>
#include <kiln/tensor_io.h>

int main(int argc, char** argv) {
  if (argc != 3) {
    std::cerr << "usage: kiln-consumer MODEL.onnx WORK_DIR\n";
    return 2;
  }
  try {
    kiln::SessionOptions options;
    options.threads = 2;
    kiln::Session session = kiln::Session::load(argv[1], options);
    if (session.inputs().size() != 1 || session.outputs().size() != 2) {
      std::cerr << "unexpected model signature\n";
      return 1;
    }
    std::vector<int64_t> shape = session.inputs()[0].shape;
    for (int64_t& d : shape)
      if (d < 0) d = 2;
    kiln::Tensor x(kiln::DType::Float32, shape);
    for (int64_t i = 0; i < x.numel(); ++i) x.data_as<float>()[i] = static_cast<float>(i % 5) - 2.0f;

    std::vector<kiln::Tensor> out = session.run({x});
    const kiln::Tensor& y = out.at(0);
    if (y.shape() != shape) {
      std::cerr << "output shape " << kiln::shape_to_string(y.shape()) << "\n";
      return 1;
    }
    for (int64_t i = 0; i < y.numel(); ++i)
      if (y.data_as<float>()[i] != std::max(0.0f, x.data_as<float>()[i])) {
        std::cerr << "wrong value at " << i << "\n";
        return 1;
      }

    // tensor_io round trip through the installed library.
    std::string path = std::string(argv[2]) + "/consumer_output.pb";
    kiln::save_tensor_pb(path, y, "y");
    std::string name;
    kiln::Tensor back = kiln::load_tensor_file(path, &name);
    if (name != "y" || back.shape() != y.shape()) {
      std::cerr << "tensor_io round trip failed\n";
      return 1;
    }

    // Errors cross the library boundary as kiln::Error.
    bool caught = false;
    try {
      session.run({kiln::Tensor(kiln::DType::Float32, {1, 2})});
    } catch (const kiln::Error& e) {
      caught = std::string(e.what()).find("'x'") != std::string::npos;
    }
    if (!caught) {
      std::cerr << "a wrong input was not reported as kiln::Error\n";
      return 1;
    }
    std::cout << "consumer ok: " << kiln::shape_to_string(y.shape()) << ", " << session.threads() << " threads\n";
  } catch (const kiln::Error& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
