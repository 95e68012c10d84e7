// Replays every input under tests/fuzz/regressions/ (inputs the fuzzer once
// crashed on, kept after the fix) through the fuzz target's body: each must
// now load and run, or end in a kiln::Error. Under the sanitizer builds this
// also re-checks them for memory errors and undefined behaviour.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>

#include "fuzz/fuzz_load.h"

namespace kiln::test {
namespace {

TEST(FuzzRegressions, EveryKeptInputLoadsOrFailsCleanly) {
  namespace fs = std::filesystem;
  const fs::path dir = KILN_FUZZ_REGRESSIONS;
  ASSERT_TRUE(fs::is_directory(dir)) << dir;
  int replayed = 0;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (!entry.is_regular_file() || entry.path().filename() == "README.md") continue;
    std::ifstream f(entry.path(), std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    SCOPED_TRACE(entry.path().string());
    EXPECT_NO_THROW(kiln::fuzz::load_and_run(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()));
    ++replayed;
  }
  std::printf("replayed %d fuzz regression inputs\n", replayed);
}

}  // namespace
}  // namespace kiln::test
