#pragma once
// The exit code of a GoogleTest main: ctest marks a test skipped on exit 77 (SKIP_RETURN_CODE), which a run gives
// only when nothing failed and nothing passed (every test skipped, e.g. GPU tests on a machine without a GPU, or
// none selected). Matching gtest's "[  PASSED  ] 0 tests" line instead would also hide a suite whose every test
// failed.
#include <gtest/gtest.h>

namespace tessera::testing {

inline int gtest_exit_code(int run_all_tests_result) {
  const ::testing::UnitTest& unit = *::testing::UnitTest::GetInstance();
  if (run_all_tests_result == 0 && unit.successful_test_count() == 0 && unit.failed_test_count() == 0) return 77;
  return run_all_tests_result;
}

}  // namespace tessera::testing
