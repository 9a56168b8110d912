// `tessera predict CONFIG.json --checkpoint FILE --out PREDICTIONS.h5 [--data FILE ...] [--set ...]`: Keras's
// model.predict from the command line. The config's model takes the checkpoint's weights and runs over --data (or
// the config's data.test), whose files need x only; one HDF5 file comes out, its rows in the data's row order:
//   outputs        f32 (n, outputs...)  what the model returns (logits)
//   probabilities  f32                  softmax over dim 1 (cross_entropy) or sigmoid (binary_cross_entropy)
//   predicted      i64 (n,)             argmax over dim 1 (cross_entropy) or outputs > 0 (binary_cross_entropy)
// with attributes checkpoint, data, loss and config (the resolved config). Under mpirun each rank predicts every
// w-th row (the evaluation sampler's share), the shares are gathered (allgather), put back in row order, and rank 0
// writes the file (atomically: the previous file, or none, until it is complete).
#include <cstdio>

#include "core/check.h"
#include "core/ops/factory.h"
#include "core/ops/index.h"
#include "core/ops/nn_functional.h"
#include "core/ops/pointwise.h"
#include "core/ops/reduce.h"
#include "core/ops/view.h"
#include "distributed/data_parallel_context.h"
#include "io/hdf5/file.h"
#include "io/training/atomic_file.h"
#include "io/training/checkpoint.h"
#include "launch/cli/checkpoint_job_flags.h"
#include "launch/cli/commands.h"
#include "launch/cli/flags.h"
#include "launch/cli/init_from.h"
#include "launch/cli/training_job.h"

namespace tessera::cli {

namespace {

// Every rank's predictions, padded to the same row count, gathered on every rank and put back in the data's row
// order: rank r predicted rows r, r + w, r + 2w, ... (io::DistributedSampler's evaluation share).
Tensor gather_in_row_order(const Tensor& mine, int64_t rows, dist::Communicator& comm) {
  const int64_t ranks = comm.size(), per_rank = (rows + ranks - 1) / ranks;
  Shape padded_shape = mine.shape();
  padded_shape[0] = per_rank;
  Tensor padded = zeros(padded_shape, {.dtype = mine.dtype(), .device = mine.device()});
  padded.narrow(0, 0, mine.shape()[0]).copy_(mine);
  Shape all_shape = padded_shape;
  all_shape[0] = per_rank * ranks;
  Tensor all = zeros(all_shape, {.dtype = mine.dtype(), .device = mine.device()});
  comm.allgather(padded, all, {"predictions"})->wait();
  std::vector<int64_t> order(static_cast<size_t>(rows));
  for (int64_t row = 0; row < rows; ++row) order[static_cast<size_t>(row)] = (row % ranks) * per_rank + row / ranks;
  return index_select(all, 0, tensor(order).to(all.device()));
}

void write_predictions(const std::string& path, const std::vector<std::pair<std::string, Tensor>>& datasets,
                       const std::vector<std::pair<std::string, std::string>>& attributes) {
  io::h5::File file = io::h5::File::create_in_memory(path);
  for (const auto& [name, values] : datasets) {
    const Tensor host = values.to(Device()).contiguous();
    const auto type = host.dtype() == DType::i64 ? io::h5::ElementType::i64 : io::h5::ElementType::f32;
    const io::h5::Dataset dataset = file.create_dataset(name, type, host.shape());
    dataset.write_all(type, host.raw_data());
  }
  for (const auto& [name, value] : attributes) io::h5::write_attribute(file.id(), name, value);
  io::write_file_atomically(path, file.image().parts(), {.what = "predictions"});
}

}  // namespace

int run_predict(const std::vector<std::string>& args) {
  const auto flags = parse_checkpoint_job_flags(
      "predict", "usage: tessera predict CONFIG.json --checkpoint FILE --out PREDICTIONS.h5 [--data FILE ...] [options]",
      "HDF5 file to write: outputs, probabilities, predicted", args);
  if (!flags) return 0;
  TrainingJob job = prepare_job(flags->config, flags->overrides, JobKind::predict);
  TESSERA_CHECK(job.test, "predict: no data: give --data FILE ... (or set the config's data.test)");
  if (job.is_main) check_output_file("predict", "--out", flags->out);
  // Weights only, as evaluate: the optimizer state is of no use here.
  load_model_weights(*job.model, flags->checkpoint, job.test->sample_shape());
  const int64_t rows = job.test->loader().dataset().size();
  const Tensor outputs =
      gather_in_row_order(job.model->predict(*job.test).to(DType::f32), rows, job.parallel->communicator());
  if (!job.is_main) return 0;
  std::vector<std::pair<std::string, Tensor>> datasets = {{"outputs", outputs}};
  const std::string& loss = job.config.loss;
  if (loss == "cross_entropy" && outputs.dim() >= 2) {
    datasets.emplace_back("probabilities", softmax(outputs, 1));
    datasets.emplace_back("predicted", argmax(outputs, 1));
  } else if (loss == "binary_cross_entropy") {
    datasets.emplace_back("probabilities", sigmoid(outputs));
    datasets.emplace_back("predicted", gt(outputs, 0.0).to(DType::i64));
  }
  std::string files;
  for (const auto& file : job.config.data.test) files += (files.empty() ? "" : ",") + file;
  write_predictions(flags->out, datasets,
                    {{"checkpoint", flags->checkpoint}, {"data", files}, {"loss", loss},
                     {"config", job.resolved.dump()}});
  std::string written;
  for (const auto& [name, values] : datasets) {
    written += (written.empty() ? "" : ", ") + name + " " + shape_str(values.shape());
  }
  std::printf("predictions of %lld samples written to %s: %s\n", static_cast<long long>(rows), flags->out.c_str(),
              written.c_str());
  return 0;
}

}  // namespace tessera::cli
