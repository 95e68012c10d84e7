// Embedding kiln: load a model once, then run it from several threads.
//
//   kiln-example-classify model.onnx [threads]
//
// Feeds every input a deterministic ramp (free dims taken as 1), runs the
// session from each thread, and checks that all threads got the same answer.
#include <cstring>
#include <iostream>
#include <thread>

#include "kiln/kiln.h"

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: " << argv[0] << " model.onnx [threads]\n";
    return 2;
  }
  int nthreads = argc > 2 ? std::atoi(argv[2]) : 4;
  try {
    kiln::Session session = kiln::Session::load(argv[1]);

    std::vector<kiln::Tensor> inputs;
    for (const kiln::TensorInfo& info : session.inputs()) {
      std::vector<int64_t> shape = info.shape;
      for (int64_t& d : shape)
        if (d < 0) d = 1;
      kiln::Tensor t(info.dtype, shape);
      if (info.dtype != kiln::DType::Float32) {
        std::cerr << "input '" << info.name << "' is " << kiln::dtype_name(info.dtype) << "; this example feeds float32 only\n";
        return 2;
      }
      for (int64_t i = 0; i < t.numel(); ++i) t.data_as<float>()[i] = static_cast<float>(i % 17) / 17.0f - 0.5f;
      inputs.push_back(t);
      std::cout << "input  " << info.name << " " << kiln::shape_to_string(shape) << "\n";
    }

    std::vector<std::vector<kiln::Tensor>> results(nthreads);
    std::vector<std::thread> pool;
    for (int t = 0; t < nthreads; ++t) pool.emplace_back([&, t] { results[t] = session.run(inputs); });
    for (auto& th : pool) th.join();

    for (int t = 1; t < nthreads; ++t)
      for (size_t k = 0; k < results[0].size(); ++k)
        if (results[t][k].shape() != results[0][k].shape() ||
            std::memcmp(results[t][k].data(), results[0][k].data(), results[0][k].nbytes()) != 0) {
          std::cerr << "thread " << t << " got a different output " << k << "\n";
          return 1;
        }

    for (size_t k = 0; k < results[0].size(); ++k) {
      const kiln::Tensor& out = results[0][k];
      std::cout << "output " << session.outputs()[k].name << " " << kiln::shape_to_string(out.shape());
      if (out.dtype() == kiln::DType::Float32 && out.numel() > 0) {
        const float* p = out.data_as<float>();
        int64_t best = 0;
        for (int64_t i = 1; i < out.numel(); ++i)
          if (p[i] > p[best]) best = i;
        std::cout << " argmax " << best << " (" << p[best] << ")";
      }
      std::cout << "\n";
    }
    std::cout << nthreads << " threads agree\n";
  } catch (const kiln::Error& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 2;
  }
  return 0;
}
