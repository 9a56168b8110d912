#include "core/model/train_config_schema.h"

#include <vector>

#include "core/model/config_schema.h"
#include "core/model/layer_reference.h"
#include "core/model/train_config.h"

namespace tessera::model {

namespace {

// Example configs that together lead parse_train_config to every key and every variant: the first leaves every
// optional key out (so the defaults are recorded), the others give each optional object and pick each
// optimizer.type and schedule.type once. A new variant or a key read only when present needs an example here
// (building the schema fails naming a variant no example picks; the description test names an unseen key).
std::vector<nlohmann::json> schema_examples() {
  const nlohmann::json minimal = {{"model", {{"layers", {{{"type", "relu"}}}}}}, {"data", {{"train", "train.h5"}}}};
  auto with = [&](nlohmann::json extra) {
    nlohmann::json config = minimal;
    config.update(extra, /*merge_objects=*/true);
    return config;
  };
  return {
      minimal,
      with({{"data", {{"test", "test.h5"}}},
            {"loss", {{"type", "cross_entropy"}}},
            {"optimizer", {{"type", "sgd"}}},
            {"schedule", {{"type", "constant"}}},
            {"max_steps", 1},
            {"tensorboard", nlohmann::json::object()},
            {"checkpoint", {{"dir", "checkpoints"}}},
            {"callbacks", {{"early_stopping", nlohmann::json::object()}, {"reduce_lr_on_plateau", nlohmann::json::object()}}},
            {"init_from", {{"file", "weights.h5"}}}}),
      with({{"optimizer", {{"type", "adam"}}}, {"schedule", {{"type", "cosine"}}}, {"init_from", "weights.h5"},
            {"loss", {{"type", "huber"}}}}),
      with({{"optimizer", {{"type", "adamw"}}}, {"schedule", {{"type", "step"}}}, {"loss", {{"type", "mse"}}}}),
      with({{"loss", {{"type", "binary_cross_entropy"}}}}),
      with({{"loss", {{"type", "l1"}}}}),
      with({{"loss", "mse"}}),
  };
}

}  // namespace

const std::map<std::string, std::string>& train_config_descriptions() {
  static const std::map<std::string, std::string> descriptions = {
      {"", "The config of `tessera train` and `tessera evaluate`: one JSON object, validated in full before anything "
           "starts (an unknown key is an error naming its path)."},
      {"seed", "Seeds parameter initialisation, shuffling and dropout; the same seed gives the same run, bitwise at the "
               "same world size and CPU threads per rank (TESSERA_NUM_THREADS); on a GPU too, except where float "
               "atomics sum in any order (embedding and scatter_add backward) or cuDNN has only a non-deterministic "
               "algorithm for a convolution within its workspace."},
      {"model", "The network."},
      {"model.layers", "A non-empty list of layer objects ({\"type\": \"linear\", \"out_features\": 10}, ...), built by "
                       "core/model/sequential_builder.cpp, which checks each against the data's shape before training."},
      {"data", "HDF5 training (and test) data, as written by `tessera data`."},
      {"data.train", "Training files or globs (a single string is a list of one); at least one."},
      {"data.test", "Test files or globs, evaluated after each epoch (val_* logs); none: no evaluation."},
      {"data.x", "The dataset holding the inputs in each file."},
      {"data.y", "The dataset holding the labels (targets for mse) in each file."},
      {"data.scale", "Inputs are multiplied by this, then normalised with mean and std."},
      {"data.mean", "Per-channel mean subtracted after scaling (one number: every channel); none: 0."},
      {"data.std", "Per-channel standard deviation divided by after scaling, each positive; none: 1."},
      {"data.shuffle", "Reshuffle the training samples every epoch (seeded by seed and the epoch)."},
      {"data.drop_last", "Training: each rank drops its last short batch (as PyTorch's drop_last=True); evaluation "
                         "still reads every sample."},
      {"data.prefetch", "Batches assembled ahead of the training step by the loader's thread."},
      {"data.check_finite", "Reject samples holding NaN or infinity, naming file and row."},
      {"data.pin_memory", "On a GPU: assemble batches in pinned memory and copy them on a copy stream while the step "
                          "runs (ignored on the CPU)."},
      {"loss", "The loss: a name, or an object with its type and options; absent: cross_entropy. cross_entropy "
               "(integer class labels), "
               "binary_cross_entropy (logits; float targets in [0, 1]), mse, l1, huber (float targets)."},
      {"loss.type", "cross_entropy, binary_cross_entropy, mse, l1 or huber."},
      {"loss.label_smoothing", "cross_entropy only: PyTorch's label smoothing, in [0, 1]."},
      {"loss.delta", "huber only: where the loss turns from quadratic to linear (positive)."},
      {"metrics", "Logged for training and validation: accuracy, top<k>_accuracy (e.g. top5_accuracy), "
                  "confusion_matrix (validation only; per-class precision and recall). Default: [\"accuracy\"] for "
                  "cross_entropy and binary_cross_entropy, none otherwise."},
      {"data.layout", "How x stores images: nchw (N, C, H, W), nhwc (channels last, as NumPy and Keras write them; "
                      "transposed as batches are assembled) or auto (from x's layout attribute, else its shape)."},
      {"optimizer", "The optimizer; absent: adamw with its defaults."},
      {"optimizer.type", "sgd (with momentum, nesterov), adam or adamw (with beta1, beta2, eps); "
                         "`--set optimizer.type=...` drops the keys the new type does not take."},
      {"optimizer.lr", "The learning rate (positive)."},
      {"optimizer.weight_decay", "L2 penalty (sgd, adam) or decoupled weight decay (adamw)."},
      {"optimizer.momentum", "sgd only: momentum factor."},
      {"optimizer.nesterov", "sgd only: Nesterov momentum (needs a positive momentum)."},
      {"optimizer.beta1", "adam and adamw: decay of the first moment, in [0, 1)."},
      {"optimizer.beta2", "adam and adamw: decay of the second moment, in [0, 1)."},
      {"optimizer.eps", "adam and adamw: added to the denominator."},
      {"optimizer.clip_grad_norm", "Positive: gradients are clipped to this global norm before each step (0: off)."},
      {"schedule", "The learning-rate schedule, stepped every optimizer step; absent: constant."},
      {"schedule.type", "constant, cosine (linear warmup, then cosine decay to min_lr over the run) or step "
                        "(lr * gamma every step_size steps); `--set schedule.type=...` drops the keys the new type "
                        "does not take."},
      {"schedule.warmup_steps",
       "cosine only: steps of linear warmup; step k < warmup_steps runs at lr (k + 1) / warmup_steps (a run of no more "
       "steps only warms up)."},
      {"schedule.min_lr", "cosine only: the rate at the end of the run."},
      {"schedule.step_size", "step only: optimizer steps between decays."},
      {"schedule.gamma", "step only: the factor applied at each decay."},
      {"epochs", "Passes over the training data."},
      {"batch_size", "Samples per batch on each rank."},
      {"gradient_accumulation_steps", "Batches whose gradients are averaged into each optimizer step (not with "
                                      "cuda_graph)."},
      {"steps_per_execution", "Optimizer steps between two reads of the logged loss and metrics (Keras's "
                              "steps_per_execution): on a GPU the host queues the next steps instead of waiting for "
                              "each; the progress bar, batch scalars (the mean over those steps), step checkpoints, "
                              "TerminateOnNaN and the stop on a signal act every this many steps. Training is the "
                              "same for any value."},
      {"eval_batch_size", "Samples per evaluation batch on each rank."},
      {"max_steps", "Stop after this many optimizer steps in all (absent: run all epochs)."},
      {"precision", "f32; bf16 or f16: forward and loss under autocast with f32 master weights (f16 with loss "
                    "scaling)."},
      {"device", "auto (this rank's GPU when it has one, else the CPU), cpu, or cuda (a GPU or an error)."},
      {"cuda_graph", "Replay the training step as a CUDA graph (one GPU rank)."},
      {"log_dir", "Folder for metrics.csv, the resolved config.json and TensorBoard files; empty: none."},
      {"tensorboard", "What goes into the TensorBoard files in log_dir."},
      {"tensorboard.batch_every", "batch/loss and batch/learning_rate every this many steps (0: none)."},
      {"tensorboard.histogram_every", "Histograms of weights and gradients every this many steps (0: none)."},
      {"checkpoint", "Checkpoints at the end of each epoch (and best.h5 when there is test data: the epoch with the best "
                     "val_accuracy, or val_loss where accuracy is not among the metrics); absent: none."},
      {"checkpoint.dir", "Folder of the checkpoints (`--resume` continues from the newest that verifies); empty: none."},
      {"checkpoint.keep", "Newest checkpoints kept."},
      {"checkpoint.every_steps", "Positive: also a checkpoint every this many optimizer steps inside an epoch."},
      {"callbacks", "Keras's callbacks, run at the end of each epoch."},
      {"callbacks.early_stopping", "Stop once monitor has not improved by min_delta for patience epochs."},
      {"callbacks.early_stopping.monitor",
       "The log watched: loss, lr or a metric of metrics, or val_ and one of those but lr (which needs data.test)."},
      {"callbacks.early_stopping.min_delta", "An improvement must beat the best by more than this."},
      {"callbacks.early_stopping.patience",
       "Epochs in a row without improvement after which training stops (Keras: 0 and 1 both stop at the first)."},
      {"callbacks.early_stopping.mode", "min, max, or auto (max for accuracies, precision and recall)."},
      {"callbacks.early_stopping.restore_best_weights", "When stopping, go back to the best epoch's weights."},
      {"callbacks.early_stopping.start_from_epoch",
       "Epochs of warm-up (Keras's): the monitor is not watched before this epoch (counted from 0)."},
      {"callbacks.reduce_lr_on_plateau", "Multiply the learning rate by factor once monitor has not improved for "
                                         "patience epochs (only with schedule.type constant)."},
      {"callbacks.reduce_lr_on_plateau.monitor",
       "The log watched: loss, lr or a metric of metrics, or val_ and one of those but lr (which needs data.test)."},
      {"callbacks.reduce_lr_on_plateau.factor", "The new rate is lr * factor (at least min_lr); in (0, 1)."},
      {"callbacks.reduce_lr_on_plateau.patience", "Epochs without improvement tolerated; the next one reduces the rate."},
      {"callbacks.reduce_lr_on_plateau.min_delta", "An improvement must beat the best by more than this."},
      {"callbacks.reduce_lr_on_plateau.cooldown", "Epochs after a reduction in which no improvement is not counted."},
      {"callbacks.reduce_lr_on_plateau.min_lr", "The rate is never reduced below this."},
      {"callbacks.reduce_lr_on_plateau.mode", "min, max, or auto (max for accuracies, precision and recall)."},
      {"init_from", "Start a fresh run from another run's weights (a checkpoint file, or {file, exclude}); the "
                    "optimizer, schedule and progress start afresh."},
      {"init_from.file", "The checkpoint (or best.h5) whose parameters and buffers are loaded."},
      {"init_from.exclude", "Name prefixes of tensors that keep their fresh initialisation (a new head); every other "
                            "tensor must be in the file with the same shape."},
  };
  return descriptions;
}

const nlohmann::ordered_json& train_config_schema() {
  static const nlohmann::ordered_json schema = [] {
    const std::vector<nlohmann::json> examples = schema_examples();
    std::vector<ConfigRecording> runs(examples.size());
    std::vector<const ConfigRecording*> pointers;
    for (size_t i = 0; i < examples.size(); ++i) {
      ConfigRecording::Scope scope(runs[i]);
      parse_train_config(examples[i]);
      pointers.push_back(&runs[i]);
    }
    return build_json_schema(pointers, train_config_descriptions(), "The `tessera train` config");
  }();
  return schema;
}

std::string train_config_markdown() {
  return schema_to_markdown(train_config_schema(),
                            "Generated from the code that validates the config (core/model/train_config.cpp) by "
                            "`tessera train --schema=markdown`; do not edit by hand. The same reference as a JSON "
                            "Schema (draft 2020-12, for editors and validators): [config.schema.json]"
                            "(config.schema.json), printed by `tessera train --schema`. The schema states each key's type, "
                            "default, allowed values and lower bound, and which keys go with which optimizer.type and "
                            "schedule.type; the remaining rules (named in the descriptions: a positive lr, betas "
                            "in [0, 1), monitors name a log the run writes (val_* with data.test), "
                            "reduce_lr_on_plateau only with a constant schedule, the layers) are checked by `tessera train` alone. The layer types and their "
                            "keys are listed in [Layers](#layers), at the end.") +
         "\n" + layer_reference_markdown();
}

}  // namespace tessera::model
