// `tessera train CONFIG.json [--set key.path=value ...] [--resume[=if-present] | --resume-from FILE | --overwrite]`
// and `tessera evaluate CONFIG.json --checkpoint FILE [--set ...]`: a whole Keras-level job from a JSON config, on
// one rank or under mpirun/srun unchanged. Rank 0 prints and writes
// log_dir/{config.json,metrics.csv,events.out.tfevents.*} and checkpoint.dir/ckpt-<step>.h5, holding each folder's
// .tessera.lock while it runs (run_folder_lock.h).
#include <unistd.h>

#include <algorithm>
#include <boost/program_options.hpp>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <system_error>

#include "core/check.h"
#include "core/log.h"
#include "core/model/train_config_schema.h"
#include "io/training/model_checkpoint.h"
#include "io/training/tensorboard_callback.h"
#include "kernels/cpu/parallel.h"
#include "launch/cli/commands.h"
#include "launch/cli/flags.h"
#include "launch/cli/init_from.h"
#include "launch/cli/preemption.h"
#include "launch/cli/resume_config.h"
#include "launch/cli/run_folder.h"
#include "launch/cli/run_folder_lock.h"
#include "launch/cli/train_timeline.h"
#include "launch/cli/training_job.h"

namespace tessera::cli {

namespace po = boost::program_options;

namespace {

struct JobFlags {
  std::string config;
  std::vector<std::string> overrides;
  std::string resume;  // "" (a fresh run), "always" (--resume) or "if-present"
  std::string resume_from;
  bool overwrite = false;
  std::string checkpoint;
  std::string progress = "auto";
  std::string timeline;
  int64_t timeline_steps = 50;
  std::string schema;  // "", "json" or "markdown"
};

std::optional<JobFlags> parse_job_flags(const std::string& command, const std::vector<std::string>& args) {
  JobFlags flags;
  po::options_description description("usage: tessera " + command + " CONFIG.json [options]");
  description.add_options()("help,h", "this help")                                                             //
      ("config", po::value(&flags.config), "the JSON config (see configs/ and docs/config.md)")                          //
      ("set", po::value(&flags.overrides)->composing(), "override a config value: --set optimizer.lr=0.01 (repeatable)");
  if (command == "train") {
    description.add_options()("resume",
                              one_of(&flags.resume, {"always", "if-present"}, "--resume", "no value or =if-present")
                                  ->implicit_value("always", "")
                                  ->value_name("[=if-present]"),
                              "continue from the newest checkpoint in checkpoint.dir that verifies, falling back past "
                              "corrupt ones; an error when there is none. --resume=if-present starts afresh then "
                              "(for job scripts that may be started again)")  //
        ("resume-from", po::value(&flags.resume_from), "continue from this checkpoint file (it must verify)")  //
        ("overwrite", po::bool_switch(&flags.overwrite),
         "a fresh run into folders holding another run's files removes that run's checkpoints, best.h5 and "
         "metrics.csv (without it, such a run is refused)")  //
        ("progress",
         one_of(&flags.progress, {"auto", "bar", "lines"}, "--progress", "auto, bar or lines")->default_value("auto"),
         "bar (redrawn in place), lines (one per epoch) or auto (bar on a terminal outside mpirun/srun)")  //
        ("timeline", po::value(&flags.timeline)->value_name("FILE"),
         "write a Chrome trace (Perfetto) of the first --timeline-steps steps on every rank: data wait, forward, "
         "backward, each bucket's all-reduce, optimizer, callbacks, checkpoint writes")  //
        ("timeline-steps", po::value(&flags.timeline_steps)->default_value(flags.timeline_steps),
         "optimizer steps --timeline records")  //
        ("schema",
         one_of(&flags.schema, {"json", "markdown"}, "--schema", "no value or =markdown")
             ->implicit_value("json")
             ->value_name("[=markdown]"),
         "print the config's JSON Schema, generated from the code that checks configs, and exit; =markdown: the "
         "reference page docs/config.md");
  } else {
    description.add_options()("checkpoint", po::value(&flags.checkpoint)->required(), "checkpoint file to evaluate");
  }
  po::positional_options_description positional;
  positional.add("config", 1);
  // A bare --resume as "--resume=always": program_options would take the next word as its value
  // (`--resume CONFIG.json`).
  std::vector<std::string> words = args;
  std::replace(words.begin(), words.end(), std::string("--resume"), std::string("--resume=always"));
  const auto values = parse_flags(command, words, description, positional);
  if (values.count("help")) {
    std::cout << description;
    return std::nullopt;
  }
  if (!flags.schema.empty()) {
    std::cout << (flags.schema == "json" ? model::train_config_schema().dump(2) + "\n" : model::train_config_markdown());
    return std::nullopt;
  }
  if (flags.config.empty()) throw_usage_error(command, ": give the config file: tessera ", command, " CONFIG.json");
  TESSERA_CHECK(flags.resume.empty() || flags.resume_from.empty(), command,
                ": give --resume or --resume-from, not both");
  TESSERA_CHECK(!flags.overwrite || (flags.resume.empty() && flags.resume_from.empty()), command,
                ": --overwrite starts a fresh run; it cannot go with --resume or --resume-from");
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

// The checkpoint --resume or --resume-from names, on every rank; nothing for a fresh run.
std::optional<io::ResumePoint> find_resume_point(const JobFlags& flags, const std::string& dir, bool is_main) {
  if (!flags.resume_from.empty()) {
    return io::ResumePoint{.path = flags.resume_from, .checkpoint = io::load_checkpoint(flags.resume_from)};
  }
  if (flags.resume.empty()) return std::nullopt;
  // if-present: "start afresh while there is none", also where the config keeps none (launch/slurm/train.sbatch
  // passes it to every requeued job, whatever the config).
  if (dir.empty() && flags.resume == "if-present") {
    if (is_main) std::printf("--resume=if-present: the config has no checkpoint.dir: starting afresh\n");
    return std::nullopt;
  }
  TESSERA_CHECK(!dir.empty(), "train --resume: the config has no checkpoint.dir to resume from");
  auto resume = io::newest_good_checkpoint(dir, [&](const std::string& path, const std::string& reason) {
    if (!is_main) return;
    std::printf("not resuming from %s: %s; falling back to the previous checkpoint (the file is kept as %s.corrupt)\n",
                path.c_str(), reason.c_str(), path.c_str());
  });
  if (resume || flags.resume == "if-present") {
    if (!resume && is_main) std::printf("--resume=if-present: no checkpoint in %s yet: starting afresh\n", dir.c_str());
    return resume;
  }
  // Relative paths resolve against the current folder: show where that led (a job started elsewhere looks there).
  std::error_code error;
  const bool exists = std::filesystem::is_directory(dir, error);
  const std::string resolved = std::filesystem::absolute(dir, error).lexically_normal().string();
  TESSERA_THROW("train --resume: no checkpoint to resume in checkpoint.dir '", dir, "' (", resolved,
                exists ? "" : ", which does not exist",
                "): nothing to resume. Use --resume=if-present to start afresh when there is none");
}

// --resume-from an older checkpoint of the run in `dir`: that run's later checkpoints belong to the timeline this run
// replaces. Left under their names they stayed the newest until this run reached their steps, so a crash before then
// and a --resume went back to them, dropping everything trained since --resume-from. Renamed <file>.superseded
// (kept for inspection; never listed, loaded or pruned). Before training, on the main rank: with --resume-from no
// rank reads any other file of the folder.
void set_aside_later_checkpoints(const std::string& dir, const io::Checkpoint& from) {
  const std::string run = io::run_id(from.meta);
  const std::string name = io::numbered_checkpoint_name(from.step);
  for (const auto& path : io::list_checkpoints(dir)) {
    if (std::filesystem::path(path).filename().string() <= name || io::checkpoint_run_id(path) != run) continue;
    std::error_code error;
    std::filesystem::rename(path, path + ".superseded", error);
    TESSERA_CHECK(!error, "cannot set aside ", path, " (after the step --resume-from continues from): ",
                  error.message());
    std::printf("set aside %s as %s.superseded: it comes after step %lld, which --resume-from continues from\n",
                path.c_str(), path.c_str(), static_cast<long long>(from.step));
  }
}

void print_logs(const char* title, const model::Logs& logs, int64_t samples) {
  std::printf("%s:", title);
  // loss, accuracy, then every other metric of the config (top5_accuracy, ...); per-class precision/recall
  // (confusion_matrix) stay in confusion_matrix.csv and TensorBoard.
  for (const char* key : {"loss", "accuracy"}) {
    if (logs.count(key)) std::printf(" %s %.4f", key, logs.at(key));
  }
  for (const auto& [key, value] : logs) {
    if (key != "loss" && key != "accuracy" && key.find('/') == std::string::npos)
      std::printf(" %s %.4f", key.c_str(), value);
  }
  std::printf(" (%lld samples)\n", static_cast<long long>(samples));
}

}  // namespace

int run_train(const std::vector<std::string>& args) {
  const auto flags = parse_job_flags("train", args);
  if (!flags) return 0;
  StartupSignals startup_signals;  // first: a preemption while the job starts is kept for the handler
  TESSERA_CHECK(flags->timeline_steps > 0, "train: --timeline-steps must be positive, got ", flags->timeline_steps);
  TrainingJob job = prepare_job(flags->config, flags->overrides, JobKind::train,
                                /*collective_timing=*/!flags->timeline.empty());
  startup_signals.inject_fault(job.parallel->rank());
  const auto& c = job.config;
  model::Model& model = *job.model;
  const RunFolders folders{.checkpoint_dir = c.checkpoint.dir, .log_dir = c.log_dir};
  // One run at a time in the folders (run_folder_lock.h): the main rank holds them until this function returns,
  // declared before everything that writes into them. Those that exist are locked before the checkpoint to resume
  // is picked, so a run still writing them fails this one now, not after it resumed from a checkpoint about to be
  // superseded; the main rank's error ends the whole job (main.cpp: abort_job).
  std::vector<RunFolderLock> locks;
  if (job.is_main) lock_run_folders(folders, locks);
  // Looked up before the output folders are created, so a checkpoint.dir that is not there is reported as such.
  std::optional<io::ResumePoint> resume = find_resume_point(*flags, c.checkpoint.dir, job.is_main);
  if (job.is_main) {  // the main rank writes every output; its error ends the whole job
    if (!flags->timeline.empty()) check_output_file("train", "--timeline", flags->timeline);
    if (!c.log_dir.empty()) create_output_dir("log_dir", c.log_dir);
    if (!c.checkpoint.dir.empty()) create_output_dir("checkpoint.dir", c.checkpoint.dir);
    lock_run_folders(folders, locks);  // the folders just created: locked before they are claimed or cleaned
    // --resume=if-present without a checkpoint.dir starts every attempt afresh (train.sbatch passes it to each
    // requeued job, without --overwrite): the epoch logs in log_dir are this job's previous attempt's, replaced.
    const bool restart_afresh = c.checkpoint.dir.empty() && flags->resume == "if-present";
    if (!resume) claim_for_fresh_run(folders, flags->overwrite || restart_afresh);
    if (!c.checkpoint.dir.empty()) remove_stale_checkpoint_temporaries(c.checkpoint.dir);
    if (resume && !flags->resume_from.empty() && !c.checkpoint.dir.empty())
      set_aside_later_checkpoints(c.checkpoint.dir, resume->checkpoint);
  }
  if (resume) apply_config_on_resume(resume->checkpoint, job.resolved, model, job.is_main);
  if (!resume && !c.init_from.file.empty()) {
    const size_t loaded = init_from_checkpoint(model, c.init_from);
    if (job.is_main) std::printf("init_from: %zu tensors from %s\n", loaded, c.init_from.file.c_str());
  }

  const auto style = flags->progress == "bar"     ? model::ProgressStyle::bar
                     : flags->progress == "lines" ? model::ProgressStyle::lines
                                                  : model::ProgressStyle::automatic;
  std::unique_ptr<TrainTimeline> timeline;
  std::function<void(const char*)> mark;
  if (!flags->timeline.empty()) {
    TESSERA_CHECK(!c.cuda_graph, "train: --timeline cannot go with cuda_graph (the step runs as one graph launch)");
    timeline = std::make_unique<TrainTimeline>(default_device(), flags->timeline_steps, job.parallel);
    mark = [&timeline](const char* phase) { timeline->mark(phase); };
  }
  std::vector<std::shared_ptr<model::Callback>> callbacks = {std::make_shared<model::ProgressBar>(stdout, style),
                                                             // fail: a diverged run exits non-zero
                                                             std::make_shared<model::TerminateOnNaN>(/*fail=*/true)};
  // Before ModelCheckpoint, so the checkpoints hold their state after each epoch.
  if (c.callbacks.early_stopping) callbacks.push_back(std::make_shared<model::EarlyStopping>(*c.callbacks.early_stopping));
  if (c.callbacks.reduce_lr_on_plateau)
    callbacks.push_back(std::make_shared<model::ReduceLROnPlateau>(*c.callbacks.reduce_lr_on_plateau));
  if (!c.log_dir.empty()) {
    if (job.is_main) std::ofstream(std::filesystem::path(c.log_dir) / "config.json") << job.resolved.dump(2) << "\n";
    // The config's other metrics in its order: training ones after accuracy, validation ones after val_accuracy.
    std::vector<std::string> columns = model::CsvLogger::default_columns();
    for (const auto& metric : c.metrics) {
      if (metric == "accuracy" || metric == "confusion_matrix") continue;  // accuracy is a default column
      columns.insert(std::find(columns.begin(), columns.end(), "val_loss"), metric);
      columns.insert(std::find(columns.begin(), columns.end(), "lr"), "val_" + metric);
    }
    callbacks.push_back(std::make_shared<model::CsvLogger>((std::filesystem::path(c.log_dir) / "metrics.csv").string(),
                                                           columns));
    callbacks.push_back(std::make_shared<model::ConfusionMatrixLogger>(
        (std::filesystem::path(c.log_dir) / "confusion_matrix.csv").string()));
    callbacks.push_back(std::make_shared<io::TensorBoardCallback>(
        c.log_dir, io::TensorBoardOptions{.batch_every = c.tensorboard.batch_every,
                                          .histogram_every = c.tensorboard.histogram_every,
                                          .config_text = "```json\n" + job.resolved.dump(2) + "\n```"}));
  }
  std::shared_ptr<io::ModelCheckpoint> checkpoint;
  if (!c.checkpoint.dir.empty()) {
    // best.h5 keeps the epoch with the best val_accuracy, or the best val_loss where the run logs no accuracy
    // (mse, l1, huber, or metrics without "accuracy"): a monitor missing from the logs would never write it.
    const bool logs_accuracy = std::find(c.metrics.begin(), c.metrics.end(), "accuracy") != c.metrics.end();
    // A resumed run keeps its run's id, so it prunes that run's older files and never another run's.
    std::string run_id = resume ? io::run_id(resume->checkpoint.meta) : "";
    if (run_id.empty()) run_id = new_run_id();
    checkpoint = std::make_shared<io::ModelCheckpoint>(
        io::ModelCheckpointOptions{.dir = c.checkpoint.dir,
                                   .keep = c.checkpoint.keep,
                                   .every_steps = c.checkpoint.every_steps,
                                   .monitor = !job.test ? "" : logs_accuracy ? "val_accuracy" : "val_loss",
                                   .extra_meta = {{"config", job.resolved},
                                                 {"run_id", run_id},
                                                 // a resume at another count is not bitwise (below)
                                                 {"cpu_threads", kernels::cpu::num_threads()}},
                                   .write = fault_injection(),
                                   .set_aside = resume ? resume->rejected : std::vector<std::string>{},
                                   .mark = mark},
        job.train.get());
    callbacks.push_back(checkpoint);
  }
  for (auto& callback : preemption_callbacks(checkpoint)) callbacks.push_back(callback);  // SIGUSR1, SIGTERM
  startup_signals.hand_over();
  if (resume) {
    try {
      io::restore_checkpoint(model, job.train.get(), resume->checkpoint, callbacks);
    } catch (const Error& e) {  // a changed model, optimizer or data layout: say which file was being resumed
      TESSERA_THROW("cannot resume from checkpoint '", resume->path, "': ", e.message());
    }
    if (job.is_main) std::printf("resumed from %s at step %lld, epoch %lld\n", resume->path.c_str(),
                                 static_cast<long long>(model.step()), static_cast<long long>(model.epoch() + 1));
    // The CPU kernels give the same bits run after run at one thread count, but oneDNN's convolution weight
    // gradients and OpenBLAS's GEMMs (k past its block size) sum in an order that depends on the count.
    const int threads = kernels::cpu::num_threads();
    const int64_t saved = resume->checkpoint.meta.value("cpu_threads", int64_t{0});
    if (job.is_main && default_device().is_cpu() && saved > 0 && saved != threads)
      log::warn("the checkpoint was written with {} CPU threads per rank, this run has {}: training continues, but "
                "not bitwise as an uninterrupted run would (TESSERA_NUM_THREADS={} repeats it exactly)",
                saved, threads, saved);
    // Rows of epochs after the checkpoint's are trained and logged again: dropped, so each epoch has one row.
    if (job.is_main && !c.log_dir.empty()) drop_epoch_log_rows_after(c.log_dir, model.epoch());
  }
  if (job.is_main) {
    const int64_t batches = job.train->batches_per_epoch(), accumulation = c.gradient_accumulation_steps;
    std::cout << model.summary() << "ranks " << model.parallel().size() << ", batch " << c.batch_size << " per rank"
              << (accumulation > 1 ? " x " + std::to_string(accumulation) + " accumulated" : "") << ", "
              << (batches + accumulation - 1) / accumulation << " steps per epoch\n";
  }
  try {
    model.fit(*job.train, {.epochs = c.epochs,
                           .max_steps = c.max_steps.value_or(-1),
                           .validation = job.test.get(),
                           .callbacks = callbacks,
                           .cuda_graph = c.cuda_graph,
                           .mark = mark,
                           .keep_history = false});  // the History is not used: it would grow every epoch
  } catch (const model::Preempted& preempted) {
    return report_preemption(preempted, job.train->batches_per_epoch(), job.is_main);
  }
  if (c.cuda_graph && job.is_main)  // said, since a step that cannot be replayed runs eagerly without a word
    std::printf("cuda_graph: %lld steps replayed as one graph launch each (the others ran eagerly: the warm-up, "
                "batches of another shape)\n",
                static_cast<long long>(model.graph_replays()));
  if (timeline) {
    timeline->write(flags->timeline, {{"config", job.resolved}, {"ranks", model.parallel().size()},
                                      {"device", default_device().str()}});
    if (job.is_main) std::printf("timeline: %lld steps of every rank in %s\n",
                                 static_cast<long long>(timeline->steps_recorded()), flags->timeline.c_str());
  }
  if (job.test) {
    const model::Logs logs = model.evaluate(*job.test);
    if (job.is_main) print_logs("test", logs, job.test->loader().dataset().size());
  }
  return 0;
}

int run_evaluate(const std::vector<std::string>& args) {
  const auto flags = parse_job_flags("evaluate", args);
  if (!flags) return 0;
  TrainingJob job = prepare_job(flags->config, flags->overrides, JobKind::evaluate);
  TESSERA_CHECK(job.test, "evaluate: the config's data.test is empty");
  // Weights only: the config's optimizer may differ from the one that trained the checkpoint.
  load_model_weights(*job.model, flags->checkpoint, job.test->sample_shape());
  const model::Logs logs = job.model->evaluate(*job.test);
  if (job.is_main) print_logs("test", logs, job.test->loader().dataset().size());
  return 0;
}

}  // namespace tessera::cli
