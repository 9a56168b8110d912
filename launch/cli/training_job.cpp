#include "launch/cli/training_job.h"

#include <cstdio>
#include <fstream>
#include <functional>
#include <iostream>
#include <set>

#include "core/log.h"
#include "core/check.h"
#include "core/model/sequential_builder.h"
#include "distributed/bootstrap.h"
#include "distributed/data_parallel_context.h"
#include "distributed/model_fingerprint.h"
#include "kernels/device_info.h"

namespace tessera::cli {

namespace {

// The key path of every key that appears twice in one object ("optimizer.lr", "model.layers[2].units"). JSON
// allows it and keeps the last, so a pasted line would silently override the one above it.
class DuplicateKeys {
 public:
  bool operator()(int /*depth*/, nlohmann::json::parse_event_t event, nlohmann::json& parsed) {
    using Event = nlohmann::json::parse_event_t;
    switch (event) {
      case Event::object_start:
      case Event::array_start:
        open_.push_back({.path = child_path(), .is_array = event == Event::array_start});
        break;
      case Event::object_end:
      case Event::array_end:
        open_.pop_back();
        break;
      case Event::key:
        key_ = parsed.get<std::string>();
        if (!open_.back().keys.insert(key_).second) found_.push_back(child_path());
        break;
      case Event::value:
        if (!open_.empty() && open_.back().is_array) ++open_.back().next_index;
        break;
    }
    return true;
  }
  const std::vector<std::string>& found() const { return found_; }

 private:
  struct Open {
    std::string path;
    bool is_array = false;
    int64_t next_index = 0;
    std::set<std::string> keys;
  };
  // The path of the value that starts now: the next element of an array, or the value of the key just read.
  std::string child_path() {
    if (open_.empty()) return "";
    Open& parent = open_.back();
    if (parent.is_array) return parent.path + "[" + std::to_string(parent.next_index++) + "]";
    return parent.path.empty() ? key_ : parent.path + "." + key_;
  }
  std::vector<Open> open_;
  std::string key_;
  std::vector<std::string> found_;
};

nlohmann::json read_config_file(const std::string& path) {
  std::ifstream in(path);
  TESSERA_CHECK(in.good(), "cannot read config file '", path, "'");
  DuplicateKeys duplicates;
  nlohmann::json config;
  try {
    config = nlohmann::json::parse(in, std::ref(duplicates), true, /*ignore_comments=*/true);
  } catch (const nlohmann::json::exception& e) {  // parse_error, and out_of_range for a number like 1e999
    TESSERA_THROW("config file '", path, "' is not valid JSON: ", e.what());
  }
  TESSERA_CHECK(duplicates.found().empty(), "config file '", path, "': key ", duplicates.found().front(),
                " appears twice in one object (JSON would keep only the last); remove one");
  return config;
}

// Batches arrive on `device`: on a GPU, copied from pinned memory on the loader's copy stream (data.pin_memory).
std::shared_ptr<io::LoaderBatchSource> make_source(const model::TrainConfig& c, const std::vector<std::string>& files,
                                                   bool training, bool labelled, int rank, int world, Device device) {
  io::DatasetOptions dataset{.files = files,
                             .arrays = {{.name = c.data.x,
                                         .scale = c.data.scale,
                                         .mean = c.data.mean,
                                         .std = c.data.std,
                                         .layout = io::parse_image_layout(c.data.layout, "config: data.layout"),
                                         .key = "data"},
                                        {.name = c.data.y, .dtype = c.loss == "cross_entropy" ? DType::i64 : DType::f32}},
                             .check_finite = c.data.check_finite};
  if (!labelled) dataset.arrays.pop_back();  // x alone: the files need no y
  io::LoaderOptions options{.batch_size = training ? c.batch_size : c.eval_batch_size,
                            .shuffle = training && c.data.shuffle,
                            .drop_last = training && c.data.drop_last,
                            .evaluation = !training,
                            .prefetch = c.data.prefetch,
                            .seed = c.seed,
                            .rank = rank,
                            .world_size = world,
                            .device = device,
                            .pin_memory = c.data.pin_memory && !device.is_cpu()};
  return std::make_shared<io::LoaderBatchSource>(dataset, options,
                                                 io::BatchSourceNames{.x = c.data.x, .y = labelled ? c.data.y : ""});
}

// Builds the model on x's sample shape. A shape the model cannot take fails here, naming the file, dataset, shape
// and data.layout, not as a bare shape error from some layer; channels-last data read as nchw is the usual cause
// (a conv then takes W as its channels), so it is named, and warned about even when the model happens to build.
void build_on_data(model::Model& model, const io::LoaderBatchSource& data, const std::string& layout, bool is_main) {
  const std::string hint = data.x_layout_hint();
  try {
    model.build(data.sample_shape());
  } catch (const model::LayerShapeError& e) {  // a bad key or value in a layer spec is not about the data: as it is
    TESSERA_THROW("the model cannot take the samples of ", data.describe_x(), " with data.layout \"", layout, "\"",
                  hint, ": ", e.message());
  }
  if (is_main && !hint.empty())
    log::warn("{} is read with data.layout \"{}\"{}", data.describe_x(), layout, hint);
}

// What a rank's data set is: its files with their rows, element types and sample shapes. Every rank reads its share
// of one global index space, so every rank must see the same: a rank whose copy of a file has other rows (data
// copied to each node, one copy stale or cut short) plans another number of batches per epoch, and its collectives
// stop matching the others' (an epoch-end metrics all-reduce summed with a gradient bucket, then a hang until the
// collective timeout, naming no file).
void describe_data(const char* key, io::LoaderBatchSource* source, std::vector<std::string>& entries) {
  if (!source) return;
  const io::ShardedDataset& dataset = source->loader().dataset();
  for (const io::Shard& shard : dataset.shards()) {  // first, so the first difference names a file where it can
    std::string entry = std::string(key) + " file '" + shard.path + "': " + std::to_string(shard.rows) + " rows";
    for (size_t a = 0; a < dataset.arrays().size(); ++a) {
      entry += ", '" + dataset.arrays()[a].name + "' " + io::h5::element_type_name(shard.element_types[a]) + " " +
               shape_str(dataset.stored_sample_shape(a));
    }
    entries.push_back(entry);
  }
  entries.push_back(std::string(key) + ": " + std::to_string(dataset.shards().size()) + " file(s), " +
                    std::to_string(dataset.size()) + " samples");
}

// y's samples must be what the loss compares with the model's outputs: one class index per sample (per output
// position) for cross_entropy, as many values as an output for the element-wise losses. Checked before training for
// the train and test sets alike: a test y stored as (n, 1) failed in the loss after a whole training epoch (its
// checkpoint not written), saying "cross_entropy: expected a target of shape [256] ..., got [256, 1]", no file named.
void check_target_shape(const model::Model& model, io::LoaderBatchSource& data, const model::TrainConfig& c,
                        const char* key) {
  const Shape output = model.output_shape();
  const bool classes = c.loss == "cross_entropy";
  if (classes && output.empty()) return;
  const io::ShardedDataset& dataset = data.loader().dataset();
  const Shape y = dataset.sample_shape(data.y_array());
  const Shape expected = classes ? Shape(output.begin() + 1, output.end()) : output;
  const bool fits = classes ? y == expected : shape_numel(y) == shape_numel(output);
  const bool column = y.size() == expected.size() + 1 && y.back() == 1;
  TESSERA_CHECK(fits, "config: ", key, ": dataset '", c.data.y, "' of file '", dataset.shards()[0].path,
                "' has samples of shape ", shape_str(y), ", but loss ", c.loss, " with the model's outputs ",
                shape_str(output), " per sample needs ", classes ? "class indices of shape " : "targets of shape ",
                shape_str(expected), column ? " (y is stored as a column: store it as (n,), e.g. y[:, 0])" : "");
}

const char* activity(JobKind kind) {
  switch (kind) {
    case JobKind::train: return "training";
    case JobKind::evaluate: return "evaluating";
    case JobKind::predict: return "predicting";
    case JobKind::export_model: return "exporting";
  }
  return "";
}

}  // namespace

TrainingJob prepare_job(const std::string& config_path, const std::vector<std::string>& overrides, JobKind kind,
                        bool collective_timing) {
  const bool with_train = kind == JobKind::train;
  const bool labelled = kind == JobKind::train || kind == JobKind::evaluate;
  nlohmann::json raw = read_config_file(config_path);
  for (const auto& assignment : overrides) model::apply_override(raw, assignment);
  TrainingJob job;
  job.config = model::parse_train_config(raw);
  job.resolved = model::to_json(job.config);
  const auto& world = dist::init();
  job.is_main = world.rank == 0;
  manual_seed(job.config.seed);

  const auto& c = job.config;
  // Parameters, optimizer state and batches live on this device (the loaders deliver batches there).
  const Device device = model::choose_training_device(c.device, world.device, world.rank);
  set_default_device(device);
  // cuda_graph is how training steps run: evaluate, predict and export never capture, so the training config
  // serves them on a machine without a GPU as well.
  TESSERA_CHECK(!with_train || !c.cuda_graph || !device.is_cpu(), "config: cuda_graph: rank ", world.rank,
                " trains on ", device.str(),
                "; CUDA graphs need a GPU (set \"device\": \"cuda\" on a machine with one, or drop cuda_graph)");
  // The PCI bus id names the physical GPU: with CUDA_VISIBLE_DEVICES set per rank every rank says cuda:0.
  const std::string gpu = device.is_cuda() ? ", GPU " + kernels::cuda_pci_bus_id(device.index) : std::string();
  std::printf("[rank %d of %d] %s on %s (local rank %d, device: %s%s)\n", world.rank, world.size,
              activity(kind), device.str().c_str(), world.local_rank, c.device.c_str(), gpu.c_str());
  std::fflush(stdout);
  if (with_train) job.train = make_source(c, c.data.train, true, true, world.rank, world.size, device);
  if (!c.data.test.empty()) job.test = make_source(c, c.data.test, false, labelled, world.rank, world.size, device);
  TESSERA_CHECK(job.train || job.test, "config: data.test is empty: nothing to evaluate");
  const Shape sample = (job.train ? job.train : job.test)->sample_shape();
  if (job.train && job.test) {
    TESSERA_CHECK(job.test->sample_shape() == sample, "config: data.test samples have shape ",
                  shape_str(job.test->sample_shape()), " but data.train samples have shape ", shape_str(sample));
  }
  // Gradients over NCCL where every rank has a GPU of its own, else MPI (communicator.h, backend "auto").
  job.parallel = std::make_shared<dist::DataParallelContext>(
      dist::make_communicator({.device = device, .timing = collective_timing}));
  // One kind of device on every rank. Under "auto" a rank that finds no GPU (CUDA_VISIBLE_DEVICES naming none for
  // it, more ranks than a wrapper hands GPUs to, a driver error) would otherwise train on the CPU beside GPU ranks:
  // every step at CPU speed, and replicas updated by different kernels.
  std::vector<double> on_gpu{device.is_cuda() ? 1.0 : 0.0};
  job.parallel->allreduce_sum(on_gpu);
  const auto gpu_ranks = static_cast<int64_t>(on_gpu[0]);
  TESSERA_CHECK(gpu_ranks == 0 || gpu_ranks == world.size, "config: device \"", c.device, "\": ", gpu_ranks, " of ",
                world.size, " ranks have a GPU and the others none (rank ", world.rank, " trains on ", device.str(),
                "); every rank must train on the same kind of device: give each rank a GPU, or set \"device\": \"cpu\"");
  if (world.size > 1) {
    std::vector<std::string> data;
    describe_data("data.train", job.train.get(), data);
    describe_data("data.test", job.test.get(), data);
    dist::check_same_on_all_ranks(job.parallel->communicator(), data, "the data",
                                  "Every rank must read the same files with the same rows (one shared file system, or "
                                  "identical copies on every node).");
  }
  // NCCL, or MPI where NCCL cannot serve (no GPU, ranks sharing one); training only: evaluate, predict and export
  // all-reduce no gradients.
  if (with_train && job.is_main && world.size > 1) {
    std::printf("[rank 0] gradients all-reduced over %s\n", job.parallel->communicator().backend().c_str());
    std::fflush(stdout);
  }
  job.model = std::make_unique<model::Model>(c.layers, job.parallel);
  build_on_data(*job.model, *(job.train ? job.train : job.test), c.data.layout, job.is_main);
  if (labelled) {
    if (job.train) check_target_shape(*job.model, *job.train, c, "data.train");
    if (job.test) check_target_shape(*job.model, *job.test, c, "data.test");
  }
  // cross_entropy takes one output per class (dim 1 of the output): a label the model has no output for fails
  // now, naming its file and row, not inside the loss at the first batch holding it (for a test set, after a
  // whole training epoch).
  if (const Shape output = job.model->output_shape(); labelled && c.loss == "cross_entropy" && !output.empty()) {
    const std::string source = "the model's " + std::to_string(output[0]) + " outputs, one per class";
    for (const auto& data : {job.train, job.test}) {
      if (data) data->check_labels_below(output[0], source);
    }
  }
  job.model->compile({.optimizer = model::make_optimizer_factory(c.optimizer),
                      .loss = c.loss,
                      .metrics = c.metrics,
                      .label_smoothing = c.label_smoothing,
                      .huber_delta = c.huber_delta,
                      .scheduler = model::make_scheduler_factory(c.schedule),
                      .precision = c.precision,
                      .clip_grad_norm = c.optimizer.clip_grad_norm,
                      .gradient_accumulation_steps = c.gradient_accumulation_steps,
                      .steps_per_execution = c.steps_per_execution});
  return job;
}

}  // namespace tessera::cli
