// Failure driver: the last rank stalls before it makes its communicator (as a rank would on a hung file system while
// it scans the data, or a wedged GPU), so the others wait in the communicator's setup (MPI_Comm_dup, which blocks
// until every rank joins) until the watchdog (TESSERA_COLLECTIVE_TIMEOUT, set short by the script) ends the job naming
// the setup. Run by tests/launch/dist_setup_stall.sh.
#include <chrono>
#include <thread>

#include "distributed/bootstrap.h"
#include "distributed/communicator.h"

int main(int argc, char** argv) {
  using namespace tessera;
  return dist::run_guarded([&] {
    const auto& world = dist::init(&argc, &argv);
    if (world.rank == world.size - 1) {
      std::this_thread::sleep_for(std::chrono::seconds(100));  // longer than the script's timeout wrapper allows
      return 0;
    }
    dist::make_communicator({.backend = "mpi"});
    return 0;
  });
}
