// Checkpoints: written atomically, read back by h5py with the documented names, shapes and dtypes, and a Model
// restored from one continues bitwise where the uninterrupted run went (dropout RNG, optimizer and schedule
// included). A crash before the rename leaves the previous checkpoint as the newest, under its real name.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "core/model/model.h"
#include "core/model/train_config.h"
#include "io/hdf5/file.h"
#include "io/training/model_checkpoint.h"
#include "tests/support/compared_device.h"
#include "tests/support/test_prelude.h"

using namespace tessera;
namespace fs = std::filesystem;

namespace {

const json kNet = json::parse(R"([{"type": "flatten"}, {"type": "linear", "out_features": 16},
  {"type": "batchnorm1d"}, {"type": "relu"}, {"type": "dropout", "p": 0.3}, {"type": "linear", "out_features": 3}])");

fs::path fresh_dir(const std::string& name) {
  const fs::path dir = fs::temp_directory_path() / ("tessera_ckpt_" + name + "_" + std::to_string(getpid()));
  fs::remove_all(dir);
  return dir;
}

model::Model make_model(uint64_t seed, const std::string& precision = "f32",
                        const std::vector<std::string>& metrics = {"accuracy"}) {
  manual_seed(seed);
  model::Model m(kNet);
  m.build({1, 2, 3});
  // eps 1e-2, not 1e-8: with a tiny eps, Adam turns a near-zero gradient's rounding noise into a step of +-lr, so runs
  // on two devices (another summation order) part by 0.03 within 24 steps; ResumesOnAnotherDevice compares them.
  m.compile({.optimizer = model::adamw({.lr = 0.01, .eps = 1e-2}),
             .loss = "cross_entropy",
             .metrics = metrics,
             .scheduler = model::make_scheduler_factory({.type = "cosine", .warmup_steps = 2}),
             .precision = precision});
  return m;
}

std::pair<Tensor, Tensor> data() {
  Generator gen(21);
  return {randn({60, 1, 2, 3}, gen), randint(0, 3, {60}, gen)};
}

std::vector<float> flat_state(const nn::Module& module) {
  std::vector<float> all;
  for (const auto& [name, t] : module.state_dict()) {
    auto v = t.to_vector<float>();
    all.insert(all.end(), v.begin(), v.end());
  }
  return all;
}

// Flips one bit of element `index` of a float dataset in place, as a failing disk or bus would.
void flip_bit(const std::string& path, const std::string& dataset_name, size_t index, int bit) {
  const hid_t file = H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
  const hid_t dataset = H5Dopen2(file, dataset_name.c_str(), H5P_DEFAULT);
  std::vector<uint32_t> bits(H5Sget_simple_extent_npoints(H5Dget_space(dataset)));
  EXPECT_GE(H5Dread(dataset, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, bits.data()), 0);
  bits.at(index) ^= 1u << bit;
  EXPECT_GE(H5Dwrite(dataset, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, bits.data()), 0);
  H5Dclose(dataset);
  H5Fclose(file);
}

void delete_crc(const std::string& path, const std::string& dataset_name) {  // as written before the CRCs
  const hid_t file = H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
  EXPECT_GE(H5Adelete_by_name(file, dataset_name.c_str(), "crc32c", H5P_DEFAULT), 0);
  H5Fclose(file);
}

// Stops inside epoch 2 (8 batches an epoch), as a killed job would; fewer epochs or max_steps would shorten the
// schedule instead.
struct StopAtStep12 : model::Callback {
  void on_batch_end(model::TrainState& state, const model::Logs&) override { state.stop_training = state.step == 12; }
};

}  // namespace

TEST(Checkpoint, ResumeContinuesBitwiseWithOptimizerScheduleAndDropout) {
  auto [x, y] = data();
  model::Model straight = make_model(1);
  model::TensorBatchSource a(x, y, {.batch_size = 8, .seed = 4});
  straight.fit(a, {.epochs = 3});

  const fs::path dir = fresh_dir("resume");
  {
    model::Model first = make_model(1);
    model::TensorBatchSource b(x, y, {.batch_size = 8, .seed = 4});
    auto saver = std::make_shared<io::ModelCheckpoint>(io::ModelCheckpointOptions{.dir = dir, .keep = 2, .monitor = ""}, &b);
    first.fit(b, {.epochs = 3, .callbacks = {std::make_shared<StopAtStep12>(), saver}});
  }
  ASSERT_EQ(io::list_checkpoints(dir).size(), 2u) << "epoch 1 and the stop at step 12";
  manual_seed(999);  // the process starts afresh: other weights, other RNG state
  model::Model resumed = make_model(7);
  model::TensorBatchSource c(x, y, {.batch_size = 8, .seed = 4});
  const auto checkpoint = io::load_checkpoint(*io::latest_checkpoint(dir));
  EXPECT_EQ(checkpoint.step, 12);
  EXPECT_EQ(checkpoint.epoch, 1);
  io::restore_checkpoint(resumed, &c, checkpoint);
  resumed.fit(c, {.epochs = 3});
  EXPECT_EQ(resumed.step(), 24);
  EXPECT_EQ(flat_state(resumed.module()), flat_state(straight.module()));
  EXPECT_DOUBLE_EQ(resumed.optimizer().lr(), straight.optimizer().lr());
  fs::remove_all(dir);
}

// checkpoint.every_steps: numbered checkpoints inside epochs as well as at their ends; one taken mid-epoch resumes
// bitwise like any other. Also with "confusion_matrix" among the metrics: the training sums (loss, samples,
// accuracy) have no confusion cells, so the checkpoint's epoch_sums must still be taken up (they were dropped as
// "another layout" when fit compared them with the evaluation layout, classes x classes cells longer).
TEST(Checkpoint, EveryStepsSavesInsideEpochsAndResumesBitwise) {
  auto [x, y] = data();
  for (const std::vector<std::string>& metrics :
       {std::vector<std::string>{"accuracy"}, std::vector<std::string>{"accuracy", "confusion_matrix"}}) {
    SCOPED_TRACE(metrics.back());
    model::Model straight = make_model(1, "f32", metrics);
    model::TensorBatchSource a(x, y, {.batch_size = 8, .seed = 4});  // 8 batches an epoch
    const model::History straight_history = straight.fit(a, {.epochs = 2});

    const fs::path dir = fresh_dir("every_steps");
    {
      model::Model first = make_model(1, "f32", metrics);
      model::TensorBatchSource b(x, y, {.batch_size = 8, .seed = 4});
      auto saver = std::make_shared<io::ModelCheckpoint>(
          io::ModelCheckpointOptions{.dir = dir, .keep = 10, .every_steps = 5, .monitor = "loss"}, &b);
      first.fit(b, {.epochs = 2, .callbacks = {saver}});
    }
    std::vector<int64_t> steps;
    for (const auto& path : io::list_checkpoints(dir)) steps.push_back(io::load_checkpoint(path).step);
    std::sort(steps.begin(), steps.end());
    EXPECT_EQ(steps, (std::vector<int64_t>{5, 8, 10, 15, 16})) << "every 5 steps and at each epoch's end";
    model::Model resumed = make_model(7, "f32", metrics);
    model::TensorBatchSource c(x, y, {.batch_size = 8, .seed = 4});
    const auto checkpoint = io::load_checkpoint((dir / io::numbered_checkpoint_name(10)).string());
    EXPECT_EQ(checkpoint.epoch, 1) << "taken inside epoch 2";
    io::restore_checkpoint(resumed, &c, checkpoint);
    EXPECT_EQ(resumed.epoch_sums().size(), 3u) << "loss, samples, accuracy";
    const model::History resumed_history = resumed.fit(c, {.epochs = 2});
    EXPECT_EQ(resumed.step(), 16);
    EXPECT_EQ(flat_state(resumed.module()), flat_state(straight.module()));
    // Epoch 2's training means cover its first 2 steps too (the checkpoint's epoch_sums), as in the straight run.
    ASSERT_EQ(resumed_history.epochs.size(), 1u);
    for (const char* key : {"loss", "accuracy"}) {
      EXPECT_EQ(resumed_history.epochs[0].at(key), straight_history.epochs[1].at(key)) << key;
    }
    fs::remove_all(dir);
  }
}

// Checkpoints are one format for every device: a run stopped on one device resumes on another and ends where the
// uninterrupted run on the first one ends (bitwise on the test device, whose kernels are the CPU's; on a GPU within
// f32 rounding of 12 more steps).
TEST(Checkpoint, ResumesOnAnotherDevice) {
  const Device device = default_device();
  if (device.is_cpu()) GTEST_SKIP() << "needs a second device (the test device or a GPU)";
  auto [x, y] = data();
  const auto on = [](Device where, const std::function<void()>& body) {
    const Device before = default_device();
    set_default_device(where);
    body();
    set_default_device(before);
  };
  for (const auto& [from, to] : {std::pair{device, Device()}, std::pair{Device(), device}}) {
    std::vector<float> straight_state;
    on(from, [&] {
      model::Model straight = make_model(1);
      model::TensorBatchSource a(x, y, {.batch_size = 8, .seed = 4});
      straight.fit(a, {.epochs = 3});
      straight_state = flat_state(straight.module());
    });
    const fs::path dir = fresh_dir("devices");
    on(from, [&] {
      model::Model first = make_model(1);
      model::TensorBatchSource b(x, y, {.batch_size = 8, .seed = 4});
      auto saver = std::make_shared<io::ModelCheckpoint>(io::ModelCheckpointOptions{.dir = dir, .keep = 1, .monitor = ""}, &b);
      first.fit(b, {.epochs = 3, .callbacks = {std::make_shared<StopAtStep12>(), saver}});
    });
    std::vector<float> resumed_state;
    on(to, [&] {
      model::Model resumed = make_model(7);
      model::TensorBatchSource c(x, y, {.batch_size = 8, .seed = 4});
      io::restore_checkpoint(resumed, &c, io::load_checkpoint(*io::latest_checkpoint(dir)));
      resumed.fit(c, {.epochs = 3});
      EXPECT_EQ(resumed.step(), 24);
      EXPECT_EQ(resumed.module().parameters().front().device(), to);
      resumed_state = flat_state(resumed.module());
    });
    ASSERT_EQ(resumed_state.size(), straight_state.size());
    for (size_t i = 0; i < straight_state.size(); ++i) {
      const float tolerance = tessera::testing::runs_cpu_kernels(device) ? 0.0f : 1e-4f * (1.0f + std::abs(straight_state[i]));
      ASSERT_NEAR(resumed_state[i], straight_state[i], tolerance) << "element " << i << ", " << from.str() << " -> "
                                                                  << to.str();
    }
    fs::remove_all(dir);
  }
}

// f16 training's loss scaler continues where it stood: its scale and growth counter are in the checkpoint.
TEST(Checkpoint, RestoresTheF16LossScale) {
  auto [x, y] = data();
  model::Model trained = make_model(3, "f16");
  model::TensorBatchSource source(x, y, {.batch_size = 20});
  trained.fit(source, {.epochs = 2});
  ASSERT_NE(trained.grad_scaler(), nullptr);
  EXPECT_EQ(trained.grad_scaler()->growth_tracker(), 6);
  trained.grad_scaler()->load_state_dict(trained.grad_scaler()->state_dict());  // round trip of the API too
  const io::Checkpoint checkpoint = io::capture_checkpoint(trained, &source);
  EXPECT_EQ(checkpoint.meta["loss_scale"], 65536.0);
  EXPECT_EQ(checkpoint.meta["loss_scale_growth_tracker"], 6);
  model::Model resumed = make_model(3, "f16");
  io::restore_checkpoint(resumed, &source, checkpoint);
  EXPECT_EQ(resumed.grad_scaler()->get_scale(), 65536.0);
  EXPECT_EQ(resumed.grad_scaler()->growth_tracker(), 6);
}

// A run resumed with precision f16 from a checkpoint of an f32 run (precision is a setting, not fixed on resume)
// starts loss scaling at GradScaler's initial scale: the 1.0 such a checkpoint records means "no scaler", and restored
// as a scale it left f16 gradients unscaled for thousands of steps. Also for files written before "loss_scaling".
TEST(Checkpoint, F16ResumedFromAnUnscaledRunStartsAtTheInitialScale) {
  auto [x, y] = data();
  model::Model trained = make_model(3, "f32");
  model::TensorBatchSource source(x, y, {.batch_size = 20});
  trained.fit(source, {.epochs = 1});
  const io::Checkpoint checkpoint = io::capture_checkpoint(trained, &source);
  EXPECT_FALSE(checkpoint.meta.value("loss_scaling", true));
  io::Checkpoint older = checkpoint;
  older.meta.erase("loss_scaling");
  for (const io::Checkpoint* from : std::vector<const io::Checkpoint*>{&checkpoint, &older}) {
    model::Model resumed = make_model(3, "f16");
    io::restore_checkpoint(resumed, &source, *from);
    ASSERT_NE(resumed.grad_scaler(), nullptr);
    EXPECT_EQ(resumed.grad_scaler()->get_scale(), 65536.0);
    EXPECT_EQ(resumed.grad_scaler()->growth_tracker(), 0);
  }
}

TEST(Checkpoint, ReadByH5pyWithDocumentedLayout) {
  auto [x, y] = data();
  model::Model m = make_model(2);
  model::TensorBatchSource source(x, y, {.batch_size = 20});
  m.fit(source, {.epochs = 1});
  const fs::path dir = fresh_dir("h5py");
  fs::create_directories(dir);
  const std::string path = (dir / "one.h5").string();
  io::save_checkpoint(path, io::capture_checkpoint(m, &source, {{"config", {{"seed", 2}}}}));
  const json read = tessera::testing::run_python_script(TESSERA_PYTHON, "tests/readers/checkpoint_h5py.py", {{"path", path}});
  EXPECT_EQ(read["attributes"]["format"], "tessera.checkpoint.v1");
  EXPECT_EQ(read["attributes"]["step"], 3);
  EXPECT_EQ(read["attributes"]["epoch"], 1);
  EXPECT_EQ(read["attributes"]["world_size"], 1);
  const json meta = json::parse(read["attributes"]["meta"].get<std::string>());
  EXPECT_EQ(meta["config"]["seed"], 2);
  EXPECT_EQ(meta["train"]["epoch"], 0);
  const auto& datasets = read["datasets"];
  for (const auto& [name, tensor] : m.module().state_dict()) {
    const auto& d = datasets.at("model/" + name);
    EXPECT_EQ(d["shape"].get<Shape>(), tensor.shape()) << name;
    EXPECT_EQ(d["values"].get<std::vector<double>>(), tensor.to_vector<double>()) << name;
  }
  EXPECT_EQ(datasets["model/1.weight"]["dtype"], "float32");
  EXPECT_EQ(datasets["model/2.num_batches_tracked"]["dtype"], "int64");
  EXPECT_EQ(datasets["model/2.num_batches_tracked"]["shape"], json::array()) << "0-d tensors are scalar datasets";
  EXPECT_TRUE(datasets.contains("optimizer/state.0.exp_avg"));
  EXPECT_EQ(datasets["optimizer/options.lr"]["dtype"], "float64");
  EXPECT_TRUE(datasets.contains("scheduler/last_epoch"));
  fs::remove_all(dir);
}

// Step, epoch and world size are read back exactly: a run past step 999,999 resumed at step 1 (the attributes went
// through text with 6 significant digits), named its next checkpoints ckpt-00000000N.h5, and the next --resume took
// the old ckpt-001234567.h5 as the newest, discarding everything trained since.
TEST(Checkpoint, LargeStepAndEpochReadBackExactly) {
  auto [x, y] = data();
  model::Model m = make_model(2);
  model::TensorBatchSource source(x, y, {.batch_size = 20});
  m.fit(source, {.epochs = 1});
  io::Checkpoint checkpoint = io::capture_checkpoint(m, &source);
  checkpoint.step = 1234567;
  checkpoint.epoch = 10000019;
  const fs::path dir = fresh_dir("large_step");
  const std::string path = io::save_numbered_checkpoint(dir.string(), checkpoint, 3);
  EXPECT_EQ(fs::path(path).filename(), "ckpt-001234567.h5");
  const io::Checkpoint loaded = io::load_checkpoint(path);
  EXPECT_EQ(loaded.step, 1234567);
  EXPECT_EQ(loaded.epoch, 10000019);
  EXPECT_EQ(loaded.world_size, 1);
  fs::remove_all(dir);
}

TEST(Checkpoint, CrashBeforeRenameKeepsThePreviousCheckpoint) {
  auto [x, y] = data();
  model::Model m = make_model(3);
  model::TensorBatchSource source(x, y, {.batch_size = 20});
  const fs::path dir = fresh_dir("crash");
  m.fit(source, {.epochs = 1});
  const std::string good = io::save_numbered_checkpoint(dir, io::capture_checkpoint(m, &source), 3);
  m.fit(source, {.epochs = 2});
  io::CheckpointWriteOptions crash{.before_rename = [](const std::string&) { throw std::runtime_error("killed"); }};
  EXPECT_THROW(io::save_numbered_checkpoint(dir, io::capture_checkpoint(m, &source), 3, crash), std::runtime_error);
  EXPECT_EQ(io::list_checkpoints(dir), std::vector<std::string>{good});
  EXPECT_EQ(io::load_checkpoint(*io::latest_checkpoint(dir)).step, 3);
  int temporaries = 0;
  for (const auto& entry : fs::directory_iterator(dir)) temporaries += entry.path().string().find(".tmp-") != std::string::npos;
  EXPECT_EQ(temporaries, 1) << "the half-written file stays under its temporary name";
  fs::remove_all(dir);
}

TEST(Checkpoint, KeepsTheNewestAndRejectsOtherFiles) {
  auto [x, y] = data();
  model::Model m = make_model(4);
  model::TensorBatchSource source(x, y, {.batch_size = 30});
  const fs::path dir = fresh_dir("keep");
  auto saver = std::make_shared<io::ModelCheckpoint>(
      io::ModelCheckpointOptions{.dir = dir, .keep = 2, .monitor = "loss"}, &source);
  m.fit(source, {.epochs = 5, .callbacks = {saver}});
  const auto kept = io::list_checkpoints(dir);
  ASSERT_EQ(kept.size(), 2u);
  EXPECT_EQ(fs::path(kept[0]).filename(), "ckpt-000000008.h5");
  EXPECT_EQ(fs::path(kept[1]).filename(), "ckpt-000000010.h5");
  EXPECT_TRUE(fs::exists(dir / "best.h5"));
  expect_error([&] { io::load_checkpoint((dir / "missing.h5").string()); }, {"missing.h5", "does not exist"});
  {
    const auto file = io::h5::File::create((dir / "other.h5").string());
    io::h5::write_attribute(file.id(), "format", std::string("something else"));
  }
  expect_error([&] { io::load_checkpoint((dir / "other.h5").string()); }, {"other.h5", "has format 'something else'"});
  fs::remove_all(dir);
}

// Issue 14: a diverged run's state is never written, and a NaN checkpoint (diverged or corrupted) never loads.
TEST(Checkpoint, NeverWritesOrLoadsNonFiniteTensors) {
  auto [x, y] = data();
  model::Model m = make_model(5);
  model::TensorBatchSource source(x, y, {.batch_size = 20});
  m.fit(source, {.epochs = 1});
  const fs::path dir = fresh_dir("nonfinite");
  io::Checkpoint poisoned = io::capture_checkpoint(m, &source);
  for (const auto& [name, tensor] : poisoned.optimizer) {
    if (name == "state.0.exp_avg_sq") Tensor(tensor).fill_(INFINITY);  // captured tensors are clones
  }
  expect_error([&] { io::save_numbered_checkpoint(dir, poisoned, 3); },
               {"ckpt-000000003.h5", "of step 3", "optimizer/state.0.exp_avg_sq", "NaN or inf"});
  EXPECT_TRUE(io::list_checkpoints(dir).empty());

  const std::string good = io::save_numbered_checkpoint(dir, io::capture_checkpoint(m, &source), 3);
  {  // corrupt one weight in place, as h5py would
    const std::vector<float> nans(16 * 6, NAN);
    const hid_t file = H5Fopen(good.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
    const hid_t dataset = H5Dopen2(file, "/model/1.weight", H5P_DEFAULT);
    ASSERT_GE(H5Dwrite(dataset, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, nans.data()), 0);
    H5Dclose(dataset);
    H5Fclose(file);
  }
  delete_crc(good, "/model/1.weight");  // else the CRC32C check refuses it first
  expect_error([&] { io::load_checkpoint(good); }, {good, "model/1.weight", "NaN or inf", "refusing to load"});
  fs::remove_all(dir);
}

// Issue 14: ModelCheckpoint's best score and EarlyStopping's best and wait go into every checkpoint and come back
// on restore, so a resumed run replaces best.h5 only with a better epoch; old checkpoints restore no best.
TEST(Checkpoint, ResumeKeepsTheBestScoreAndEarlyStoppingCounters) {
  auto [x, y] = data();
  const fs::path dir = fresh_dir("best");
  const auto make_callbacks = [&](const model::BatchSource* source) {
    return std::make_pair(
        std::make_shared<model::EarlyStopping>(model::EarlyStoppingOptions{.monitor = "val_loss", .patience = 5}),
        std::make_shared<io::ModelCheckpoint>(io::ModelCheckpointOptions{.dir = dir, .monitor = "val_loss"}, source));
  };
  model::Model first = make_model(5);
  model::TensorBatchSource source(x, y, {.batch_size = 20});
  auto [stopper, saver] = make_callbacks(&source);
  first.fit(source, {.epochs = 2, .validation = &source, .callbacks = {stopper, saver}});
  ASSERT_TRUE(saver->best().has_value());
  const io::Checkpoint checkpoint = io::load_checkpoint(*io::latest_checkpoint(dir));

  model::Model resumed = make_model(6);
  model::TensorBatchSource again(x, y, {.batch_size = 20});
  auto [stopper2, saver2] = make_callbacks(&again);
  io::restore_checkpoint(resumed, &again, checkpoint, {stopper2, saver2});
  EXPECT_EQ(saver2->best(), saver->best());
  model::TrainState state{.model = &resumed, .step = resumed.step(), .is_main = true};
  stopper2->on_train_begin(state);  // fit's start keeps restored counters
  EXPECT_EQ(stopper2->best(), stopper->best());
  EXPECT_EQ(stopper2->wait(), stopper->wait());

  const auto best_step = [&] { return io::load_checkpoint((dir / "best.h5").string()).step; };
  const int64_t kept = best_step();
  resumed.set_progress(50, resumed.epoch());
  saver2->on_epoch_end(state, {{"val_loss", *saver->best() + 1}});
  EXPECT_EQ(best_step(), kept) << "a worse epoch after the resume replaced best.h5";
  resumed.set_progress(60, resumed.epoch());
  saver2->on_epoch_end(state, {{"val_loss", *saver->best() - 1}});
  EXPECT_EQ(best_step(), 60);
  const auto bytes = [](const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  };
  EXPECT_EQ(bytes(dir / "best.h5"), bytes(dir / io::numbered_checkpoint_name(60)))
      << "best.h5 and the numbered checkpoint of its step are one image written twice";

  io::Checkpoint old_format = checkpoint;  // written before best scores were stored
  old_format.meta.erase("callbacks");
  auto [stopper3, saver3] = make_callbacks(&again);
  io::restore_checkpoint(resumed, &again, old_format, {stopper3, saver3});
  EXPECT_FALSE(saver3->best().has_value());
  fs::remove_all(dir);
}

// A write failing between best.h5 and the numbered checkpoint of an improved epoch (a full disk; here a hook
// throws) must not leave the newest checkpoint recording a best score that best.h5 lacks: a run resumed from it
// would never write that epoch's best.h5. Seen on a real tmpfs with room for one more file and nothing to prune:
// the numbered file fitted and best.h5 did not. best.h5 is now written first; when the numbered file fails
// instead, the resumed run retrains the epoch from the previous checkpoint and writes the same best.h5 again.
TEST(Checkpoint, NoCheckpointRecordsABestThatBestH5Lacks) {
  auto [x, y] = data();
  model::Model m = make_model(7);
  model::TensorBatchSource source(x, y, {.batch_size = 20});
  m.fit(source, {.epochs = 1});
  const fs::path dir = fresh_dir("best_order");
  std::string failing;  // the file whose write fails
  const io::CheckpointWriteOptions write{.before_rename = [&](const std::string& temporary) {
    if (!failing.empty() && temporary.find(failing + ".tmp-") != std::string::npos) throw std::runtime_error("full");
  }};
  const auto make_saver = [&] {
    return std::make_shared<io::ModelCheckpoint>(
        io::ModelCheckpointOptions{.dir = dir, .monitor = "val_loss", .write = write}, &source);
  };
  const auto recorded_best = [&](const fs::path& path) {
    return io::load_checkpoint(path.string()).meta["callbacks"]["model_checkpoint"]["best"].get<double>();
  };
  const auto epoch_end = [&](const std::shared_ptr<io::ModelCheckpoint>& saver, int64_t step, double val_loss) {
    const std::vector<std::shared_ptr<model::Callback>> callbacks = {saver};
    model::TrainState state{.model = &m, .is_main = true, .callbacks = &callbacks};
    m.set_progress(step, step / 10);
    saver->on_epoch_end(state, {{"val_loss", val_loss}});
  };
  epoch_end(make_saver(), 10, 1.0);

  failing = "best.h5";
  EXPECT_THROW(epoch_end(make_saver(), 20, 0.5), std::runtime_error);
  EXPECT_EQ(fs::path(*io::latest_checkpoint(dir)).filename(), "ckpt-000000010.h5")
      << "a checkpoint records the best score 0.5, but best.h5 failed to be written";
  EXPECT_EQ(recorded_best(dir / "best.h5"), 1.0);

  failing = io::numbered_checkpoint_name(20);  // resumed from ckpt-10 (best 1.0): the epoch improves again
  auto resumed = make_saver();
  resumed->load_state(io::load_checkpoint(*io::latest_checkpoint(dir)).meta["callbacks"]["model_checkpoint"]);
  EXPECT_THROW(epoch_end(resumed, 20, 0.5), std::runtime_error);
  EXPECT_EQ(fs::path(*io::latest_checkpoint(dir)).filename(), "ckpt-000000010.h5");
  EXPECT_EQ(recorded_best(dir / "best.h5"), 0.5) << "best.h5 is written before the numbered checkpoint";
  fs::remove_all(dir);
}

// Issue 14 item 4: every tensor carries its CRC32C. One flipped bit in a weight is refused naming the file and the
// tensor; --resume's search falls back to the newest file that verifies; the resumed run sets the corrupt file
// aside (kept, never pruned) and prunes nothing good. Files without CRCs (older writers) still load.
TEST(Checkpoint, FlippedBitIsRefusedAndResumeFallsBackToAGoodOne) {
  auto [x, y] = data();
  const fs::path dir = fresh_dir("crc");
  const auto saver = [&](const model::BatchSource* source, std::vector<std::string> set_aside = {}) {
    return std::make_shared<io::ModelCheckpoint>(
        io::ModelCheckpointOptions{.dir = dir, .keep = 2, .monitor = "", .set_aside = std::move(set_aside)}, source);
  };
  model::Model m = make_model(7);
  model::TensorBatchSource source(x, y, {.batch_size = 20});
  m.fit(source, {.epochs = 2, .callbacks = {saver(&source)}});
  const auto files = io::list_checkpoints(dir);  // steps 3 and 6
  ASSERT_EQ(files.size(), 2u);
  flip_bit(files[1], "/model/1.weight", 5, 30);  // an exponent bit: a small weight becomes ~1e37, still finite
  expect_error([&] { io::load_checkpoint(files[1]); }, {files[1], "tensor model/1.weight", "CRC32C", "corrupted"});

  std::vector<std::string> told;
  const auto point = io::newest_good_checkpoint(
      dir, [&](const std::string& path, const std::string& reason) { told.push_back(path + ": " + reason); });
  ASSERT_TRUE(point.has_value());
  EXPECT_EQ(point->path, files[0]);
  EXPECT_EQ(point->checkpoint.step, 3);
  EXPECT_EQ(point->rejected, std::vector<std::string>{files[1]});
  ASSERT_EQ(told.size(), 1u);
  EXPECT_NE(told[0].find("model/1.weight"), std::string::npos) << told[0];

  model::Model resumed = make_model(8);
  model::TensorBatchSource again(x, y, {.batch_size = 20});
  const auto resumed_saver = saver(&again, point->rejected);
  io::restore_checkpoint(resumed, &again, point->checkpoint, {resumed_saver});
  resumed.fit(again, {.epochs = 2, .callbacks = {resumed_saver}});
  EXPECT_EQ(io::list_checkpoints(dir), files) << "step 3 pruned, or step 6 not rewritten";
  EXPECT_EQ(io::load_checkpoint(files[1]).step, 6);
  EXPECT_TRUE(fs::exists(files[1] + ".corrupt")) << "the corrupt file is kept for inspection";

  // Pruning never deletes files of later steps than the one written (left when resuming from an older file).
  io::Checkpoint older = point->checkpoint;
  older.step = 1;
  io::save_numbered_checkpoint(dir, older, 1);
  EXPECT_EQ(io::list_checkpoints(dir).size(), 3u);

  delete_crc(files[0], "/model/1.weight");
  EXPECT_EQ(io::load_checkpoint(files[0]).step, 3) << "a file without CRCs loads";
  for (const auto& file : io::list_checkpoints(dir)) flip_bit(file, "/model/5.weight", 0, 30);
  expect_error([&] { io::newest_good_checkpoint(dir); }, {dir.string(), "no checkpoint", "verifies"});
  fs::remove_all(dir);
}
