// `tessera train CONFIG.json [--set key.path=value ...] [--resume | --resume-from FILE]` and
// `tessera evaluate CONFIG.json --checkpoint FILE [--set ...]`: a whole Keras-level job from a JSON config, on one
// rank or under mpirun/srun unchanged (DESIGN.md, "Command line"). Rank 0 prints and writes
// log_dir/{config.json,metrics.csv,events.out.tfevents.*} and checkpoint.dir/ckpt-<step>.h5.
#include <unistd.h>

#include <boost/program_options.hpp>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "core/check.h"
#include "io/training/model_checkpoint.h"
#include "io/training/tensorboard_callback.h"
#include "launch/cli/commands.h"
#include "launch/cli/flags.h"
#include "launch/cli/training_job.h"

namespace tessera::cli {

namespace po = boost::program_options;

namespace {

struct JobFlags {
  std::string config;
  std::vector<std::string> overrides;
  bool resume = false;
  std::string resume_from;
  std::string checkpoint;
  std::string progress = "auto";
};

std::optional<JobFlags> parse_job_flags(const std::string& command, const std::vector<std::string>& args) {
  JobFlags flags;
  po::options_description description("usage: tessera " + command + " CONFIG.json [options]");
  description.add_options()("help,h", "this help")                                                             //
      ("config", po::value(&flags.config)->required(), "the JSON config (see configs/)")                          //
      ("set", po::value(&flags.overrides)->composing(), "override a config value: --set optimizer.lr=0.01 (repeatable)");
  if (command == "train") {
    description.add_options()("resume", po::bool_switch(&flags.resume),
                              "continue from the newest checkpoint in checkpoint.dir that verifies, falling back past corrupt ones "
                              "(fresh start when there is none)")  //
        ("resume-from", po::value(&flags.resume_from), "continue from this checkpoint file (it must verify)")  //
        ("progress", po::value(&flags.progress)->default_value("auto"),
         "bar (redrawn in place), lines (one per epoch) or auto (bar on a terminal outside mpirun/srun)");
  } else {
    description.add_options()("checkpoint", po::value(&flags.checkpoint)->required(), "checkpoint file to evaluate");
  }
  po::positional_options_description positional;
  positional.add("config", 1);
  const auto values = parse_flags(command, args, description, positional);
  if (values.count("help")) {
    std::cout << description;
    return std::nullopt;
  }
  return flags;
}

// Fault injection for the crash tests (tests/launch/train_*.sh): TESSERA_FAULT_KILL_AT_CHECKPOINT=<step> makes
// the rank writing the checkpoint of that step SIGKILL itself once the temporary file is complete, before the
// rename, the worst moment for a crash.
io::CheckpointWriteOptions fault_injection() {
  const char* step = std::getenv("TESSERA_FAULT_KILL_AT_CHECKPOINT");
  if (!step || !*step) return {};
  const std::string name = io::numbered_checkpoint_name(std::stoll(step));
  return {.before_rename = [name](const std::string& temporary) {
    if (temporary.find(name + ".tmp-") != std::string::npos) std::raise(SIGKILL);
  }};
}

// Creates an output directory of the config at start: a path that cannot be used fails now, naming its key, and not
// when the first epoch's files are written.
void create_output_dir(const char* key, const std::string& dir) {
  std::error_code error;
  std::filesystem::create_directories(dir, error);
  if (!error && ::access(dir.c_str(), W_OK) != 0) error.assign(errno, std::generic_category());
  TESSERA_CHECK(!error, "config: ", key, ": cannot create or write the directory '", dir, "': ", error.message());
}

void print_logs(const char* title, const model::Logs& logs, int64_t samples) {
  std::printf("%s:", title);
  for (const char* key : {"loss", "accuracy"}) {
    if (logs.count(key)) std::printf(" %s %.4f", key, logs.at(key));
  }
  std::printf(" (%lld samples)\n", static_cast<long long>(samples));
}

}  // namespace

int run_train(const std::vector<std::string>& args) {
  const auto flags = parse_job_flags("train", args);
  if (!flags) return 0;
  TrainingJob job = prepare_job(flags->config, flags->overrides, /*with_train=*/true);
  const auto& c = job.config;
  model::Model& model = *job.model;
  if (job.is_main) {  // the main rank writes every output; its error ends the whole job
    if (!c.log_dir.empty()) create_output_dir("log_dir", c.log_dir);
    if (!c.checkpoint.dir.empty()) create_output_dir("checkpoint.dir", c.checkpoint.dir);
  }

  TESSERA_CHECK(flags->progress == "auto" || flags->progress == "bar" || flags->progress == "lines",
                "train: --progress must be auto, bar or lines, got '", flags->progress, "'");
  const auto style = flags->progress == "bar"     ? model::ProgressStyle::bar
                     : flags->progress == "lines" ? model::ProgressStyle::lines
                                                  : model::ProgressStyle::automatic;
  std::vector<std::shared_ptr<model::Callback>> callbacks = {std::make_shared<model::ProgressBar>(stdout, style),
                                                             // fail: a diverged run exits non-zero
                                                             std::make_shared<model::TerminateOnNaN>(/*fail=*/true)};
  if (!c.log_dir.empty()) {
    if (job.is_main) std::ofstream(std::filesystem::path(c.log_dir) / "config.json") << job.resolved.dump(2) << "\n";
    callbacks.push_back(std::make_shared<model::CsvLogger>((std::filesystem::path(c.log_dir) / "metrics.csv").string()));
    callbacks.push_back(std::make_shared<io::TensorBoardCallback>(c.log_dir));
  }
  // Load before building ModelCheckpoint, which sets aside the files --resume rejected.
  TESSERA_CHECK(!flags->resume || flags->resume_from.empty(), "train: give --resume or --resume-from, not both");
  std::optional<io::ResumePoint> resume;
  if (!flags->resume_from.empty()) {
    resume = io::ResumePoint{.path = flags->resume_from, .checkpoint = io::load_checkpoint(flags->resume_from)};
  } else if (flags->resume) {
    TESSERA_CHECK(!c.checkpoint.dir.empty(), "train --resume: the config has no checkpoint.dir to resume from");
    resume = io::newest_good_checkpoint(c.checkpoint.dir, [&](const std::string& path, const std::string& reason) {
      if (!job.is_main) return;
      std::printf("not resuming from %s: %s; falling back to the previous checkpoint (the file is kept as %s.corrupt)\n",
                  path.c_str(), reason.c_str(), path.c_str());
    });
    if (!resume && job.is_main) {
      std::printf("no checkpoint in %s yet: starting from the beginning\n", c.checkpoint.dir.c_str());
    }
  }
  if (!c.checkpoint.dir.empty()) {
    callbacks.push_back(std::make_shared<io::ModelCheckpoint>(
        io::ModelCheckpointOptions{.dir = c.checkpoint.dir,
                                   .keep = c.checkpoint.keep,
                                   .monitor = job.test ? "val_accuracy" : "",
                                   .extra_meta = {{"config", job.resolved}},
                                   .write = fault_injection(),
                                   .set_aside = resume ? resume->rejected : std::vector<std::string>{}},
        job.train.get()));
  }
  if (resume) {
    io::restore_checkpoint(model, job.train.get(), resume->checkpoint, callbacks);
    if (job.is_main) std::printf("resumed from %s at step %lld, epoch %lld\n", resume->path.c_str(),
                                 static_cast<long long>(model.step()), static_cast<long long>(model.epoch() + 1));
  }
  if (job.is_main) {
    std::cout << model.summary() << "ranks " << model.parallel().size() << ", batch " << c.batch_size
              << " per rank, " << job.train->batches_per_epoch() << " steps per epoch\n";
  }
  model.fit(*job.train, {.epochs = c.epochs,
                         .max_steps = c.max_steps.value_or(-1),
                         .validation = job.test.get(),
                         .callbacks = callbacks,
                         .cuda_graph = c.cuda_graph});
  if (job.test) {
    const model::Logs logs = model.evaluate(*job.test);
    if (job.is_main) print_logs("test", logs, job.test->loader().dataset().size());
  }
  return 0;
}

int run_evaluate(const std::vector<std::string>& args) {
  const auto flags = parse_job_flags("evaluate", args);
  if (!flags) return 0;
  TrainingJob job = prepare_job(flags->config, flags->overrides, /*with_train=*/false);
  TESSERA_CHECK(job.test, "evaluate: the config's data.test is empty");
  // Weights only: the config's optimizer may differ from the one that trained the checkpoint.
  job.model->module().load_state_dict(io::load_checkpoint(flags->checkpoint).model);
  const model::Logs logs = job.model->evaluate(*job.test);
  if (job.is_main) print_logs("test", logs, job.test->loader().dataset().size());
  return 0;
}

}  // namespace tessera::cli
