#pragma once
// The JSON config of `tessera train` / `tessera evaluate`, validated in full before anything starts: an unknown
// key, a wrong type or a bad value is one error naming the key path and what is allowed. Every field below is a
// key of the config (nested objects as in the example of configs/fashion_mnist_cnn.json); defaults are filled
// in, and to_json() gives the resolved config that a run records in log_dir/config.json.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/model/model.h"

namespace tessera::model {

struct DataConfig {
  std::vector<std::string> train;  // files or globs
  std::vector<std::string> test;   // may be empty (no evaluation)
  std::string x = "x";
  std::string y = "y";
  double scale = 1.0;              // x * scale, then (x - mean) / std per channel
  std::vector<double> mean;        // empty: 0
  std::vector<double> std;         // empty: 1
  // How rank-4 x stores images: "nchw" (channels first, the default), "nhwc" (channels last, as NumPy and Keras
  // write them; transposed to N,C,H,W as batches are assembled) or "auto" (x's `layout` attribute, else its shape).
  std::string layout = "nchw";
  bool shuffle = true;
  // Training only: each rank drops its last short batch (and the sampler the samples past a multiple of the world
  // size), as PyTorch's DataLoader and DistributedSampler with drop_last=True; batch norm then never sees a batch of
  // one sample. Evaluation always reads every sample.
  bool drop_last = false;
  int64_t prefetch = 4;
  bool check_finite = false;       // reject samples holding NaN or infinity, naming file and row
  // On a GPU: batches assembled in pinned memory and copied on a copy stream while the step runs (ignored on the
  // CPU, where batches need no copy).
  bool pin_memory = true;
};

struct OptimizerConfig {
  std::string type = "adamw";  // sgd, adam, adamw
  double lr = 1e-3;
  double momentum = 0.0;       // sgd
  bool nesterov = false;       // sgd
  // adamw's default, as parse_optimizer gives {"type": "adamw"}: an absent "optimizer" is this struct as it stands
  // ("absent: adamw with its defaults"); sgd and adam read 0 as their default.
  double weight_decay = 0.01;
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;  // adam, adamw
  double clip_grad_norm = 0.0;  // > 0: gradients clipped to this global norm before each step (Keras global_clipnorm)
};

struct ScheduleConfig {
  std::string type = "constant";  // constant, cosine (linear warmup + cosine decay), step
  int64_t warmup_steps = 0;       // cosine
  double min_lr = 0.0;            // cosine
  int64_t step_size = 1000;       // step: optimizer steps between decays
  double gamma = 0.1;             // step
};

struct CheckpointConfig {
  std::string dir;   // empty: no checkpoints
  int64_t keep = 3;  // newest checkpoints kept
  int64_t every_steps = 0;  // > 0: also a checkpoint every this many optimizer steps inside an epoch
};

// TensorBoard files in log_dir (io/training/tensorboard_callback.h); the resolved config goes in as text "config".
struct TensorBoardConfig {
  int64_t batch_every = 10;     // batch/loss and batch/learning_rate every this many steps (0: none)
  int64_t histogram_every = 0;  // histograms of weights and gradients every this many steps (0: none)
};

// callbacks.early_stopping and callbacks.reduce_lr_on_plateau (Keras's callbacks; core/model/callbacks.h).
struct CallbacksConfig {
  std::optional<EarlyStoppingOptions> early_stopping;
  std::optional<ReduceLROnPlateauOptions> reduce_lr_on_plateau;
};

// init_from: start a fresh run from another run's weights (fine-tuning). Parameters and buffers only: the
// optimizer, schedule and progress start afresh. Tensors whose names start with an `exclude` prefix keep their
// fresh initialisation (a new head); every other tensor must exist in the file with the same shape.
struct InitFromConfig {
  std::string file;  // empty: none
  std::vector<std::string> exclude;
};

struct TrainConfig {
  uint64_t seed = 0;
  nlohmann::json layers;  // model.layers, checked by build_sequential once the data's shape is known
  DataConfig data;
  // "loss": "cross_entropy" or {"type": "cross_entropy", "label_smoothing": 0.1} / {"type": "huber", "delta": 2}
  // (CompileOptions::loss: cross_entropy, binary_cross_entropy, mse, l1, huber).
  std::string loss = "cross_entropy";
  double label_smoothing = 0.0;
  double huber_delta = 1.0;
  // Default: ["accuracy"] for cross_entropy and binary_cross_entropy, none otherwise.
  std::vector<std::string> metrics;
  OptimizerConfig optimizer;
  ScheduleConfig schedule;
  int64_t epochs = 1;
  int64_t batch_size = 64;        // per rank
  int64_t gradient_accumulation_steps = 1;  // batches per optimizer step (CompileOptions::gradient_accumulation_steps)
  int64_t steps_per_execution = 1;  // steps between two reads of the logs (CompileOptions::steps_per_execution)
  int64_t eval_batch_size = 256;  // per rank
  std::optional<int64_t> max_steps;
  std::string precision = "f32";
  std::string device = "auto";    // auto (this rank's GPU when it has one, else the CPU), cpu, cuda
  bool cuda_graph = false;        // replay the training step as a CUDA graph (FitOptions::cuda_graph; one GPU rank)
  std::string log_dir;            // empty: no metrics.csv, config.json or TensorBoard files
  TensorBoardConfig tensorboard;
  CheckpointConfig checkpoint;
  CallbacksConfig callbacks;
  InitFromConfig init_from;
};

TrainConfig parse_train_config(const nlohmann::json& config);
nlohmann::json to_json(const TrainConfig& config);

// Applies `--set key.path=value` overrides in order. The value is read as JSON when it parses (numbers, true,
// [1,2], {"a":1}), else as a string; array elements are addressed by index (model.layers.0.out_channels).
// Setting the key that picks a variant (optimizer.type, schedule.type) drops the sibling keys the new variant does
// not take (`--set schedule.type=cosine` on a step schedule drops step_size and gamma), as the schema says
// (train_config_schema.h).
void apply_override(nlohmann::json& config, const std::string& assignment);

// The device a rank trains on for the config's "device", given the GPU the rank was assigned (local_rank %
// device_count, -1 when the machine has none): "auto" takes that GPU or the CPU; "cuda" insists on the GPU and
// fails naming the rank otherwise, never silently training on the CPU.
Device choose_training_device(const std::string& requested, int assigned_gpu, int rank);

// The optimizer and schedule the config asks for, for Model::compile.
OptimizerFactory make_optimizer_factory(const OptimizerConfig& config);
SchedulerFactory make_scheduler_factory(const ScheduleConfig& config);  // null for "constant"

}  // namespace tessera::model
