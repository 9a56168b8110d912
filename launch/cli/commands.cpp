#include "launch/cli/commands.h"

namespace tessera::cli {

const std::vector<Command>& commands() {
  static const std::vector<Command> all = {
      {"demo", "train a small MLP on a synthetic 3-class spiral on the CPU and print the falling loss", run_demo},
      {"train", "train a model from a JSON config (configs/*.json), on one rank or under mpirun", run_train},
      {"evaluate", "evaluate a checkpoint on a config's test data", run_evaluate},
      {"predict", "write a checkpoint's predictions for HDF5 data (x only) to an HDF5 file", run_predict},
      {"export", "write a checkpoint's model as ONNX, for onnxruntime and other servers", run_export},
      {"data", "convert data to sharded HDF5 (fashion-mnist, from-npy, from-csv, from-images) and inspect HDF5 files", run_data},
      {"bench", "benchmarks: loader, allreduce, ddp (each side by side with its peer)", run_bench},
  };
  return all;
}

}  // namespace tessera::cli
