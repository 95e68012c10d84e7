// libFuzzer entry point: see tests/fuzz/README.md.
#include "fuzz/fuzz_load.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  kiln::fuzz::load_and_run(data, size);
  return 0;
}
