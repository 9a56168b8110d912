// main() for the single-process GoogleTest executables: runs every suite on the device TESSERA_TEST_DEVICE names
// (the CPU by default; ctest's *.test_device entries run it on the guarded test device).
#include <gtest/gtest.h>

#include "tests/support/gtest_exit.h"
#include "tests/support/test_device.h"

int main(int argc, char** argv) {
  testing::InitGoogleTest(&argc, argv);
  tessera::testing::device_under_test();
  return tessera::testing::gtest_exit_code(RUN_ALL_TESTS());
}
