// `tessera bench <name> [options]`: one entry per benchmark, each in its own bench_<name>.cpp.
#include <iostream>

#include "core/check.h"
#include "launch/cli/commands.h"
#include "launch/cli/flags.h"

namespace tessera::cli {

int run_bench(const std::vector<std::string>& args) {
  static const std::vector<Command> benches = {
      {"loader", "samples/s and MB/s of the sharded HDF5 Loader vs h5py and vs training's consumption",
       run_bench_loader},
      {"allreduce", "Communicator allreduce time, algbw and busbw vs the raw MPI (NCCL) call, 8 B to 256 MiB",
       run_bench_allreduce},
      {"ddp", "data-parallel step time: overlapped, not overlapped, compute alone, communication alone",
       run_bench_ddp},
  };
  if (args.empty() || args[0] == "--help" || args[0] == "-h") {
    std::cout << "usage: tessera bench <name> [options]   (`tessera bench <name> --help` for its options)\n\n";
    for (const auto& bench : benches) std::cout << "  " << bench.name << "\t" << bench.summary << "\n";
    return args.empty() ? 2 : 0;
  }
  for (const auto& bench : benches) {
    if (bench.name == args[0]) return bench.run(std::vector<std::string>(args.begin() + 1, args.end()));
  }
  throw_usage_error("unknown benchmark '", args[0], "' (expected loader, allreduce or ddp)");
}

}  // namespace tessera::cli
