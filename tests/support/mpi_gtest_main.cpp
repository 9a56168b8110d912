// main() for GoogleTest executables run under mpirun (tests/<folder>/mpi_*.cpp): every rank runs every test.
// A rank whose test fails exits non-zero, so mpirun's exit is non-zero; an exception escaping a test or a stuck
// collective ends the whole job through dist::run_guarded / the watchdog instead of leaving ranks waiting.
// Only rank 0 prints passing results; every rank prints its failures, prefixed with its rank. TESSERA_TEST_DEVICE
// picks the device, as in gtest_main.cpp.
#include <gtest/gtest.h>

#include <cstdio>
#include <exception>

#include "core/backend_of.h"
#include "distributed/bootstrap.h"
#include "tests/support/gtest_exit.h"
#include "tests/support/test_device.h"

namespace {

class RankFailurePrinter : public testing::EmptyTestEventListener {
 public:
  explicit RankFailurePrinter(int rank) : rank_(rank) {}
  void OnTestPartResult(const testing::TestPartResult& result) override {
    if (!result.failed()) return;
    std::fprintf(stderr, "[rank %d] %s:%d: failure\n%s\n", rank_, result.file_name() ? result.file_name() : "?",
                 result.line_number(), result.summary());
  }

 private:
  int rank_;
};

}  // namespace

int main(int argc, char** argv) {
  testing::InitGoogleTest(&argc, argv);
  return tessera::dist::run_guarded([&] {
    const auto& world = tessera::dist::init(&argc, &argv);
    tessera::testing::device_under_test();
    if (world.rank != 0) {
      auto& listeners = testing::UnitTest::GetInstance()->listeners();
      delete listeners.Release(listeners.default_result_printer());
      listeners.Append(new RankFailurePrinter(world.rank));
    }
    const int result = RUN_ALL_TESTS();
    // The compute stream's queued work runs now, while every library it calls is alive: the CPU build of the CUDA
    // backend runs queued work only when something forces it, and a communicator destroyed among the static
    // objects would force it while it drains its stream, after oneDNN's static objects are gone.
    try {
      tessera::synchronize(tessera::default_device());
    } catch (const std::exception& error) {  // an error the tests left on the device (a failed index check)
      std::fprintf(stderr, "[rank %d] error left on the device after the tests: %s\n", world.rank, error.what());
      return 1;
    }
    return tessera::testing::gtest_exit_code(result);
  });
}
