// Test driver: every rank reads one epoch of its share through the Loader, then all ranks meet in MPI_Barrier
// (standing in for training's collectives). Used by tests/launch/data_bad_input_mpi.sh to show that bad input
// ends every rank non-zero with the message, never a hang, even when only one rank's read fails.
//   io_read_epoch --files F... [--rank4] [--bad-rank R --bad-files F...]
// --rank4: require (N, C, H, W) inputs; --bad-rank: rank R reads --bad-files instead (the others read --files).
#include <mpi.h>

#include <cstdio>
#include <string>
#include <vector>

#include "distributed/bootstrap.h"
#include "io/io.h"

using namespace tessera;

int main(int argc, char** argv) {
  return dist::run_guarded([&] {
    const auto& world = dist::init(&argc, &argv);
    std::vector<std::string> files, bad_files;
    std::vector<std::string>* list = nullptr;
    int bad_rank = -1;
    int64_t rank_required = -1;
    for (int i = 1; i < argc; ++i) {
      const std::string arg = argv[i];
      if (arg == "--files") list = &files;
      else if (arg == "--bad-files") list = &bad_files;
      else if (arg == "--rank4") rank_required = 4;
      else if (arg == "--bad-rank" && i + 1 < argc) bad_rank = std::stoi(argv[++i]);
      else if (list && arg.rfind("--", 0) != 0) list->push_back(arg);
      else TESSERA_THROW("io_read_epoch: unknown argument '", arg, "'");
    }
    io::DatasetOptions data{.files = world.rank == bad_rank ? bad_files : files};
    data.arrays[0].rank = rank_required;
    io::Loader loader(data, {.batch_size = 16, .seed = 1, .rank = world.rank, .world_size = world.size});
    int64_t samples = 0;
    while (auto batch = loader.next()) samples += batch->size();
    MPI_Barrier(MPI_COMM_WORLD);
    std::printf("rank %d read %lld samples\n", world.rank, static_cast<long long>(samples));
    return 0;
  });
}
