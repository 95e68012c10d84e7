// The body of the loader fuzz target, shared by the libFuzzer binary and the
// regression test that replays tests/fuzz/regressions/ in every build.
#pragma once

#include <cstddef>
#include <cstdint>

namespace kiln::fuzz {

// Loads `data` as a model under tight limits and, when every input has a small
// fully known shape, runs it once on zeros. Returns normally for a session or a
// kiln::Error; anything else (a crash, another exception, a sanitizer report)
// is a bug.
void load_and_run(const uint8_t* data, size_t size);

}  // namespace kiln::fuzz
