#pragma once
// gtest check that a call throws a tessera::Error whose message names what went wrong: every one of `parts` must
// appear in the message (a failure lists each missing part and the message). The default device is synchronised
// inside the check, so an error a GPU reports asynchronously (a bad index) counts as the call's.
#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <vector>

#include "core/backend_of.h"
#include "core/core.h"

namespace tessera::testing {

inline void expect_error(const std::function<void()>& fn, const std::vector<std::string>& parts) {
  try {
    fn();
    synchronize(default_device());
    ADD_FAILURE() << "expected an error containing '" << (parts.empty() ? "" : parts[0]) << "'";
  } catch (const Error& e) {
    for (const std::string& part : parts)
      EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << "missing '" << part << "' in: " << e.what();
  }
}

inline void expect_error(const std::function<void()>& fn, const char* part) {
  expect_error(fn, std::vector<std::string>{part});
}

}  // namespace tessera::testing
