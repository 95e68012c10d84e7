// Checks that code fails with a kiln::Error whose message names what went
// wrong and where (every given substring must appear).
#pragma once

#include <gtest/gtest.h>

#include <exception>
#include <string>
#include <vector>

#include "kiln/kiln.h"

namespace kiln::test {

// Runs `f`; returns the kiln::Error message, or records a failure (and returns
// "") when `f` succeeds or throws anything else.
template <class F>
std::string error_message(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "threw a non-kiln exception: " << e.what();
    return "";
  } catch (...) {
    ADD_FAILURE() << "threw something that is not an exception";
    return "";
  }
  ADD_FAILURE() << "expected a kiln::Error, but it succeeded";
  return "";
}

template <class F>
void expect_error(F&& f, const std::vector<std::string>& parts) {
  std::string msg = error_message(f);
  if (msg.empty()) return;
  for (const std::string& p : parts)
    EXPECT_NE(msg.find(p), std::string::npos) << "message lacks '" << p << "': " << msg;
}

}  // namespace kiln::test
