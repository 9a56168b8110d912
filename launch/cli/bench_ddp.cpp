// `tessera bench ddp` (run under mpirun): where the time of a data-parallel training step goes. For each model,
// per-rank batch fixed, every rank measures in the same run, interleaved round by round:
//   compute        forward + backward + SGD step of the plain model, no communication (all ranks at once);
//   communication  the all-reduces alone: the very buckets DistributedDataParallel plans for the model, issued
//                  back to back, awaited and averaged, as the reducer does;
//   no overlap     DistributedDataParallel with every all-reduce launched after the last gradient is ready;
//   overlap        DistributedDataParallel as used for training: buckets launched during backward;
//   one rank       the plain step on rank 0 alone while the other ranks sleep (weak scaling's t1).
// A mode's time per step is the slowest rank's, over `steps` steps after a warm-up; the report gives the median
// over rounds. Derived: hidden = (compute + communication - overlap) / communication (share of communication that
// overlapped compute), saved by overlap = (no overlap - overlap) / communication, overlap / max(compute,
// communication) (target <= 1.1 for the communication-heavy model), and weak-scaling efficiency = one rank / overlap
// (target >= 0.9).
// Models: the cpu_step CNN (1.7 MB of gradients: its all-reduce is tiny next to its compute) and a wide MLP whose
// all-reduce takes about as long as its compute.
// The MPI backend's all-reduce is CPU work (shared-memory copies and sums) on a communication thread next to the
// compute thread: when ranks x 2 threads exceed the free cores, run with OMPI_MCA_mpi_yield_when_idle=1 so that a
// thread waiting in MPI yields its core (without it, spinning waits made communication 10-30x slower here), and with
// OMPI_MCA_btl_vader_single_copy_mechanism=cma where the kernel allows it (one copy per message instead of many
// fragments through shared memory). The report records these settings and the load average, since other processes
// on the machine change every number.
#include <mpi.h>

#include <chrono>
#include <cstdlib>
#include <cstdio>
#include <fstream>
#include <functional>
#include <iostream>
#include <optional>
#include <nlohmann/json.hpp>
#include <thread>

#include "launch/cli/bench_models.h"
#include "core/core.h"
#include "core/nn/nn.h"
#include "core/optim/optim.h"
#include "distributed/bootstrap.h"
#include "distributed/ddp.h"
#include "core/model/train_config.h"
#include "launch/cli/bench_report.h"
#include "launch/cli/chrome_trace.h"
#include "launch/cli/step_timeline.h"
#include "launch/cli/commands.h"
#include "launch/cli/flags.h"

namespace tessera::cli {

namespace po = boost::program_options;

namespace {

struct DdpBenchOptions {
  std::string models = "cnn,wide-mlp";
  int64_t cnn_batch = 64;    // per rank
  int64_t mlp_batch = 8;     // per rank
  int64_t mlp_width = 1024;  // features of every hidden layer
  int mlp_layers = 6;        // hidden Linear(width, width) layers
  double bucket_cap_mb = 25;
  double first_bucket_cap_mb = 1;
  // DdpOptions::gradient_as_bucket_view with zero_grad(set_to_none=false): gradients live in the buckets, so the
  // reducer copies nothing (every mode zeroes instead of freeing gradients, to compare like with like).
  bool bucket_views = false;
  int steps = 10;
  int warmup = 3;
  int rounds = 3;
  std::string device = "cpu";  // cpu, cuda (this rank's GPU), auto
  std::string json_path, md_path;
  std::string timeline_path;  // Chrome trace of one overlapped step per model, every rank
  std::string backend;        // what the communicator chose (reported)
};

struct ModelCase {
  std::string name;
  std::string description;
  std::function<std::shared_ptr<nn::Module>()> make;
  Shape input_shape;  // per rank, batch first
};

// Seconds per step, slowest rank.
struct Timings {
  double compute = 0, communication = 0, no_overlap = 0, overlap = 0, one_rank = 0;
};

struct ModelResult {
  ModelCase model;
  int64_t parameters = 0;
  int64_t gradient_bytes = 0;
  std::string buckets;
  size_t bucket_count = 0;
  Timings median;
  std::vector<Timings> rounds;
  double hidden() const {
    return (median.compute + median.communication - median.overlap) / median.communication;
  }
  double hidden_without_overlap() const {
    return (median.compute + median.communication - median.no_overlap) / median.communication;
  }
  // The same code with and without overlap: what launching during backward saves, as a share of communication
  // (free of the reducer's own copies and of waiting for the slowest rank, which both DDP modes pay).
  double saved_by_overlap() const { return (median.no_overlap - median.overlap) / median.communication; }
  double overlap_vs_max() const { return median.overlap / std::max(median.compute, median.communication); }
  double weak_scaling() const { return median.one_rank / median.overlap; }
};

std::shared_ptr<nn::Module> make_wide_mlp(int64_t width, int layers) {
  auto model = std::make_shared<nn::Sequential>();
  for (int i = 0; i < layers; ++i) {
    model->push_back(std::make_shared<nn::Linear>(width, width));
    model->push_back(std::make_shared<nn::ReLU>());
  }
  model->push_back(std::make_shared<nn::Linear>(width, 10));
  return model;
}

std::vector<ModelCase> model_cases(const DdpBenchOptions& o) {
  std::vector<ModelCase> cases;
  std::stringstream names(o.models);
  std::string name;
  while (std::getline(names, name, ',')) {
    if (name == "cnn") {
      cases.push_back({"cnn", "cpu_step CNN (2 conv + 2 linear), 1x28x28 inputs, batch " +
                                  std::to_string(o.cnn_batch) + " per rank",
                       [] { return bench::make_cpu_step_cnn(); }, {o.cnn_batch, 1, 28, 28}});
    } else if (name == "wide-mlp") {
      cases.push_back({"wide-mlp",
                       std::to_string(o.mlp_layers) + " x Linear(" + std::to_string(o.mlp_width) + ", " +
                           std::to_string(o.mlp_width) + ") + ReLU, then Linear(" + std::to_string(o.mlp_width) +
                           ", 10), batch " + std::to_string(o.mlp_batch) + " per rank",
                       [w = o.mlp_width, l = o.mlp_layers] { return make_wide_mlp(w, l); },
                       {o.mlp_batch, o.mlp_width}});
    } else {
      throw_usage_error("bench ddp: --models: unknown model '", name, "' (expected cnn and/or wide-mlp)");
    }
  }
  return cases;
}

double slowest_rank(double seconds) {
  MPI_Allreduce(MPI_IN_PLACE, &seconds, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
  return seconds;
}

// Seconds per step of `step` (after `warmup` untimed ones), all ranks at once; the slowest rank's. On a GPU the
// steps queue work and return: the clock stops once the device has run it all.
double time_steps(const DdpBenchOptions& o, Device device, const std::function<void()>& step) {
  for (int i = 0; i < o.warmup; ++i) step();
  synchronize(device);
  MPI_Barrier(MPI_COMM_WORLD);
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < o.steps; ++i) step();
  synchronize(device);
  return slowest_rank(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() / o.steps);
}

// Waits for every rank without spinning (a spinning MPI_Barrier would take a core from the rank working alone).
void sleepy_barrier() {
  MPI_Request request;
  MPI_Ibarrier(MPI_COMM_WORLD, &request);
  int done = 0;
  while (MPI_Test(&request, &done, MPI_STATUS_IGNORE), !done) std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

// Seconds per step of `step` on rank 0 while the other ranks sleep; every rank returns rank 0's time.
double time_alone(const DdpBenchOptions& o, Device device, const std::function<void()>& step) {
  sleepy_barrier();
  double seconds = 0;
  if (dist::world().rank == 0) {
    for (int i = 0; i < o.warmup; ++i) step();
    synchronize(device);
    const auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < o.steps; ++i) step();
    synchronize(device);
    seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() / o.steps;
  }
  sleepy_barrier();
  MPI_Bcast(&seconds, 1, MPI_DOUBLE, 0, MPI_COMM_WORLD);
  return seconds;
}

// One training step of `model` (plain or data-parallel) on a fixed batch.
class Trainer {
 public:
  // `model` is already on `device` (a DDP wrapper needs its parameters there before it broadcasts them).
  Trainer(std::shared_ptr<nn::Module> model, const Shape& input_shape, uint64_t seed, bool zero_grad_to_none,
          Device device)
      : model_(std::move(model)),
        optimizer_(model_->parameters(), {.lr = 0.01, .momentum = 0.9}),
        zero_grad_to_none_(zero_grad_to_none) {
    Generator gen(seed);
    x_ = randn(input_shape, gen).to(device);
    y_ = randint(0, 10, {input_shape[0]}, gen).to(device);
  }
  void step() {
    step_with_marks([](const char*) {});
  }
  // The step, calling mark(phase) as each phase starts ("forward", "backward", "optimizer") and at its end ("end").
  void step_with_marks(const std::function<void(const char*)>& mark) {
    optimizer_.zero_grad(zero_grad_to_none_);
    mark("forward");
    Tensor loss = cross_entropy((*model_)(x_), y_);
    mark("backward");
    loss.backward();
    mark("optimizer");
    optimizer_.step();
    mark("end");
  }

 private:
  std::shared_ptr<nn::Module> model_;
  optim::SGD optimizer_;
  bool zero_grad_to_none_;
  Tensor x_, y_;
};

// One overlapped DDP step as spans: the host's phases (track "host"); on a GPU also the compute stream's, from timing
// events; and each bucket's all-reduce where it ran (the NCCL stream, or the MPI communication thread).
void record_step_timeline(const std::string& model, Trainer& trainer, const dist::Reducer& reducer,
                          const TimelineClock& clock, std::vector<TraceSpan>& spans) {
  PhaseMarks marks(clock);
  trainer.step_with_marks([&](const char* phase) { marks.mark(phase); });
  synchronize(clock.device);
  const nlohmann::json args{{"model", model}};
  marks.take_spans(model + " ", args, spans);
  append_bucket_spans(reducer, clock, model + " ", args, spans);
}

std::shared_ptr<nn::Module> on_device(std::shared_ptr<nn::Module> model, Device device) {
  model->to(device);
  return model;
}

ModelResult run_model(const DdpBenchOptions& o, const ModelCase& model_case,
                      const std::shared_ptr<dist::Communicator>& comm, Device device,
                      std::vector<TraceSpan>* timeline, const TimelineClock& clock) {
  const int rank = comm->rank();
  const dist::DdpOptions ddp_options{.bucket_cap_mb = o.bucket_cap_mb,
                                     .first_bucket_cap_mb = o.first_bucket_cap_mb,
                                     .gradient_as_bucket_view = o.bucket_views};
  dist::DdpOptions no_overlap_options = ddp_options;
  no_overlap_options.overlap_with_backward = false;
  auto overlap_ddp = std::make_shared<dist::DistributedDataParallel>(on_device(model_case.make(), device), comm,
                                                                     ddp_options);
  auto no_overlap_ddp = std::make_shared<dist::DistributedDataParallel>(on_device(model_case.make(), device), comm,
                                                                        no_overlap_options);
  const bool to_none = !o.bucket_views;
  Trainer plain(on_device(model_case.make(), device), model_case.input_shape, rank, to_none, device);
  Trainer overlap(overlap_ddp, model_case.input_shape, rank, to_none, device);
  Trainer no_overlap(no_overlap_ddp, model_case.input_shape, rank, to_none, device);

  // The reducer's own buckets, all-reduced and averaged the way it does, without any compute.
  std::vector<Tensor> flats;
  for (const dist::BucketPlan& plan : overlap_ddp->reducer().buckets())
    flats.push_back(zeros({plan.numel}, {.dtype = plan.dtype, .device = device}));
  int64_t comm_step = 0;
  const auto communicate = [&] {
    std::vector<dist::WorkPtr> works;
    for (size_t b = 0; b < flats.size(); ++b)
      works.push_back(comm->allreduce(flats[b], dist::ReduceOp::sum, {"bucket " + std::to_string(b), comm_step}));
    for (size_t b = 0; b < flats.size(); ++b) {
      works[b]->wait_on_stream();
      flats[b].mul_(1.0 / comm->size());
    }
    ++comm_step;
  };

  ModelResult result;
  result.model = model_case;
  for (const auto& [name, tensor] : overlap_ddp->named_parameters()) {
    result.parameters += tensor.numel();
    result.gradient_bytes += static_cast<int64_t>(tensor.nbytes());
  }
  result.bucket_count = overlap_ddp->reducer().buckets().size();
  result.buckets = dist::describe_buckets(overlap_ddp->reducer().buckets(), overlap_ddp->reducer().params());

  for (int round = 0; round < o.rounds; ++round) {
    Timings t;
    t.compute = time_steps(o, device, [&] { plain.step(); });
    t.communication = time_steps(o, device, communicate);
    t.no_overlap = time_steps(o, device, [&] { no_overlap.step(); });
    t.overlap = time_steps(o, device, [&] { overlap.step(); });
    t.one_rank = time_alone(o, device, [&] { plain.step(); });
    result.rounds.push_back(t);
  }
  if (timeline) record_step_timeline(model_case.name, overlap, overlap_ddp->reducer(), clock, *timeline);
  auto median_of = [&](double Timings::*field) {
    std::vector<double> values;
    for (const Timings& t : result.rounds) values.push_back(t.*field);
    return median(values);
  };
  result.median = {median_of(&Timings::compute), median_of(&Timings::communication),
                   median_of(&Timings::no_overlap), median_of(&Timings::overlap), median_of(&Timings::one_rank)};
  return result;
}

void print_result(const ModelResult& r) {
  const Timings& t = r.median;
  std::printf("%-9s compute %8.2f ms | communication %8.2f ms | no overlap %8.2f ms | overlap %8.2f ms | "
              "one rank %8.2f ms\n",
              r.model.name.c_str(), t.compute * 1e3, t.communication * 1e3, t.no_overlap * 1e3, t.overlap * 1e3,
              t.one_rank * 1e3);
  std::printf("%-9s hidden %.0f%% (no overlap: %.0f%%), saved by overlap %.0f%% of communication, overlap / "
              "max(compute, communication) %.3f, weak scaling %.3f; %s\n",
              "", 100 * r.hidden(), 100 * r.hidden_without_overlap(), 100 * r.saved_by_overlap(), r.overlap_vs_max(),
              r.weak_scaling(), r.buckets.c_str());
}

nlohmann::json timings_json(const Timings& t) {
  return {{"compute_ms", t.compute * 1e3},   {"communication_ms", t.communication * 1e3},
          {"no_overlap_ms", t.no_overlap * 1e3}, {"overlap_ms", t.overlap * 1e3},
          {"one_rank_ms", t.one_rank * 1e3}};
}

// The Open MPI settings that change this benchmark's numbers most, as "NAME=value" (or "NAME unset").
std::string mpi_settings() {
  std::string text;
  for (const char* name :
       {"OMPI_MCA_btl", "OMPI_MCA_mpi_yield_when_idle", "OMPI_MCA_btl_vader_single_copy_mechanism"}) {
    const char* value = std::getenv(name);
    text += (text.empty() ? "" : ", ") + std::string(name) + (value ? std::string("=") + value : " unset");
  }
  return text;
}

double load_average() {
  double load[1] = {0};
  return getloadavg(load, 1) == 1 ? load[0] : -1;
}

void write_json(const std::string& path, const DdpBenchOptions& o, const std::vector<std::string>& args,
                const std::vector<ModelResult>& results) {
  const auto& world = dist::world();
  nlohmann::json json{{"benchmark", "ddp"},
                      {"command", bench_command_line("ddp", args, world.size)},
                      {"date", now_utc()},
                      {"host", host_name()},
                      {"ranks", world.size},
                      {"threads_per_rank", world.cpu_threads},
                      {"backend", o.backend},
                      {"mpi_settings", mpi_settings()},
                      {"load_average_1min_at_end", load_average()},
                      {"bucket_cap_mb", o.bucket_cap_mb},
                      {"first_bucket_cap_mb", o.first_bucket_cap_mb},
                      {"gradient_as_bucket_view", o.bucket_views},
                      {"steps_per_round", o.steps},
                      {"rounds", o.rounds},
                      {"models", nlohmann::json::array()}};
  for (const ModelResult& r : results) {
    nlohmann::json rounds = nlohmann::json::array();
    for (const Timings& t : r.rounds) rounds.push_back(timings_json(t));
    json["models"].push_back({{"name", r.model.name},
                              {"description", r.model.description},
                              {"parameters", r.parameters},
                              {"gradient_bytes", r.gradient_bytes},
                              {"buckets", r.buckets},
                              {"bucket_count", r.bucket_count},
                              {"median", timings_json(r.median)},
                              {"hidden_fraction", r.hidden()},
                              {"hidden_fraction_without_overlap", r.hidden_without_overlap()},
                              {"saved_by_overlap_fraction_of_communication", r.saved_by_overlap()},
                              {"overlap_over_max_compute_communication", r.overlap_vs_max()},
                              {"weak_scaling_efficiency", r.weak_scaling()},
                              {"rounds", rounds}});
  }
  std::ofstream out(path);
  TESSERA_CHECK(out, "bench ddp: cannot write --json file '", path, "'");
  out << json.dump(2) << "\n";
}

void write_markdown(const std::string& path, const DdpBenchOptions& o, const std::vector<std::string>& args,
                    const std::vector<ModelResult>& results) {
  const auto& world = dist::world();
  std::ofstream out(path);
  TESSERA_CHECK(out, "bench ddp: cannot write --md file '", path, "'");
  out << "# ddp: data-parallel step time, " << world.size << " ranks x " << world.cpu_threads << " thread(s)\n\n"
      << "`" << bench_command_line("ddp", args, world.size) << "` on " << host_name() << ", " << now_utc() << "; "
      << mpi_settings() << "; 1-minute load average at the end " << format("%.1f", load_average())
      << "; " << o.backend << " backend, buckets " << o.first_bucket_cap_mb << " MiB first, then " << o.bucket_cap_mb << " MiB"
      << (o.bucket_views ? ", gradients as bucket views" : "") << "; ms per step, slowest rank, median of "
      << o.rounds << " rounds of " << o.steps << " steps.\n\n"
      << "| model | grads (MB) | buckets | compute | communication | no overlap | overlap | hidden | "
         "saved by overlap | overlap / max(comp, comm) | one rank | weak scaling |\n"
      << "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n";
  for (const ModelResult& r : results) {
    const Timings& t = r.median;
    out << "| " << r.model.name << " | " << format("%.1f", r.gradient_bytes / 1e6) << " | " << r.bucket_count
        << " | " << format("%.2f", t.compute * 1e3) << " | " << format("%.2f", t.communication * 1e3) << " | "
        << format("%.2f", t.no_overlap * 1e3) << " | " << format("%.2f", t.overlap * 1e3) << " | "
        << format("%.0f%%", 100 * r.hidden()) << " | " << format("%.0f%%", 100 * r.saved_by_overlap()) << " | "
        << format("%.3f", r.overlap_vs_max()) << " | "
        << format("%.2f", t.one_rank * 1e3) << " | " << format("%.3f", r.weak_scaling()) << " |\n";
  }
  out << "\nhidden = (compute + communication - overlap) / communication; saved by overlap = (no overlap - overlap) / "
         "communication; targets: overlap <= 1.1 x max(compute, "
         "communication) for the communication-heavy model, weak scaling (one rank / overlap) >= 0.9.\n\nModels:\n";
  for (const ModelResult& r : results) out << "- " << r.model.name << ": " << r.model.description << "\n";
}

}  // namespace

int run_bench_ddp(const std::vector<std::string>& args) {
  DdpBenchOptions o;
  po::options_description flags(
      "usage: mpirun -n N tessera bench ddp [options]\n"
      "data-parallel step time: overlapped, not overlapped, compute alone, communication alone, one rank");
  flags.add_options()("help,h", "this help")                                                                  //
      ("models", po::value(&o.models)->default_value(o.models), "comma-separated: cnn, wide-mlp")            //
      ("cnn-batch", at_least(&o.cnn_batch, 1, "--cnn-batch")->default_value(o.cnn_batch),
       "CNN samples per rank per step")  //
      ("mlp-batch", at_least(&o.mlp_batch, 1, "--mlp-batch")->default_value(o.mlp_batch),
       "wide MLP samples per rank per step")  //
      ("mlp-width", at_least(&o.mlp_width, 1, "--mlp-width")->default_value(o.mlp_width), "wide MLP hidden width")  //
      ("mlp-layers", at_least(&o.mlp_layers, 1, "--mlp-layers")->default_value(o.mlp_layers),
       "wide MLP hidden layers")  //
      ("bucket-cap-mb", po::value(&o.bucket_cap_mb)->default_value(o.bucket_cap_mb), "DdpOptions::bucket_cap_mb")  //
      ("first-bucket-cap-mb", po::value(&o.first_bucket_cap_mb)->default_value(o.first_bucket_cap_mb),
       "DdpOptions::first_bucket_cap_mb")                                                                      //
      ("bucket-views", po::bool_switch(&o.bucket_views),
       "gradient_as_bucket_view, with zero_grad(set_to_none=false) in every mode")                           //
      ("steps", at_least(&o.steps, 1, "--steps")->default_value(o.steps), "timed steps per mode per round")  //
      ("warmup", at_least(&o.warmup, 0, "--warmup")->default_value(o.warmup), "untimed steps before each timing")  //
      ("rounds", at_least(&o.rounds, 1, "--rounds")->default_value(o.rounds), "rounds (the report gives medians)")  //
      ("device", one_of(&o.device, {"cpu", "cuda", "auto"}, "--device", "cpu, cuda or auto")->default_value(o.device),
       "cpu, cuda (this rank's GPU: NCCL when every rank has its own, else MPI staging) or auto")  //
      ("timeline", po::value(&o.timeline_path),
       "write a Chrome trace (Perfetto) of one overlapped step per model, every rank: host phases, the compute "
       "stream on a GPU, and each bucket's all-reduce where it ran")  //
      ("json", po::value(&o.json_path), "write the results as JSON (rank 0)")                                //
      ("md", po::value(&o.md_path), "write a Markdown table (rank 0)");
  const auto values = parse_flags("bench ddp", args, flags);
  if (values.count("help")) {
    std::cout << flags;
    return 0;
  }
  const std::vector<ModelCase> cases = model_cases(o);
  const auto& world = dist::init();
  const Device device = model::choose_training_device(o.device, world.device, world.rank);
  auto comm = dist::make_communicator({.device = device, .timing = !o.timeline_path.empty()});
  o.backend = comm->backend();
  if (world.rank == 0)
    std::printf("# tessera bench ddp: %d ranks x %d thread(s) on %s, %s backend, buckets %g MiB first then %g MiB, "
                "median of %d rounds x %d steps\n",
                world.size, world.cpu_threads, device.str().c_str(), o.backend.c_str(), o.first_bucket_cap_mb,
                o.bucket_cap_mb, o.rounds, o.steps);
  std::vector<ModelResult> results;
  std::vector<TraceSpan> timeline;
  const TimelineClock clock = TimelineClock::start(device);
  for (const ModelCase& model_case : cases) {
    manual_seed(0);
    results.push_back(run_model(o, model_case, comm, device, o.timeline_path.empty() ? nullptr : &timeline, clock));
    if (world.rank == 0) print_result(results.back());
  }
  if (!o.timeline_path.empty()) {
    write_chrome_trace(o.timeline_path, timeline,
                       {{"command", bench_command_line("ddp", args, world.size)}, {"device", device.str()},
                        {"backend", o.backend}, {"date", now_utc()}, {"host", host_name()}});
  }
  if (world.rank == 0) {
    if (!o.json_path.empty()) write_json(o.json_path, o, args, results);
    if (!o.md_path.empty()) write_markdown(o.md_path, o, args, results);
  }
  return 0;
}

}  // namespace tessera::cli
