#pragma once
// What `tessera train` and `tessera evaluate` share: a validated config (file + --set overrides), the data
// loaders for this rank, and the model built for the data (rank 0's weights on every rank under mpirun).
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/model/model.h"
#include "core/model/train_config.h"
#include "distributed/data_parallel_context.h"
#include "io/loader_batch_source.h"

namespace tessera::cli {

struct TrainingJob {
  nlohmann::json resolved;  // the config with defaults, as written to log_dir/config.json
  model::TrainConfig config;
  std::shared_ptr<io::LoaderBatchSource> train;  // null for evaluate
  std::shared_ptr<io::LoaderBatchSource> test;   // null when data.test is empty
  std::unique_ptr<model::Model> model;
  std::shared_ptr<dist::DataParallelContext> parallel;  // the model's
  bool is_main = true;
};

// Reads CONFIG.json, applies overrides, validates everything (data files opened, model built on the data's sample
// shape) before any training; errors name the file, key path, data file or layer.
// What the job is for: train reads data.train (and data.test for validation); evaluate data.test with labels;
// predict and export read data.test without y (its files need none; export only takes the samples' shape).
enum class JobKind { train, evaluate, predict, export_model };

// collective_timing: the communicator times every collective (CommunicatorOptions::timing), for --timeline.
TrainingJob prepare_job(const std::string& config_path, const std::vector<std::string>& overrides, JobKind kind,
                        bool collective_timing = false);

}  // namespace tessera::cli
