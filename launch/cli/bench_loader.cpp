// `tessera bench loader`: how fast the Loader delivers Fashion-MNIST batches (x f32 scaled by 1/255, y i64,
// batch 64), against h5py reading the very same batches from the same files in the same run, and against the rate
// at which training consumes batches (a forward + backward + SGD-momentum step of the cpu_step CNN).
//
// Cases: {gzip, uncompressed} x {sequential, shuffled} x {1, 2 ranks}. For each, `mpirun -n R` starts this command
// as worker ranks (--worker): every rank reads its share for --epochs epochs through the Loader and writes the
// sampler's index lists for the peer; then R h5py processes (benchmarks/loader/h5py_peer.py) read those same index
// lists at the same time. Rate = all ranks' samples / the slowest rank's seconds; the report keeps the median of
// --repeats runs. MB/s counts the bytes stored per sample (784 B of image + 8 B of label).
#include <mpi.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "launch/cli/bench_models.h"
#include "launch/cli/peer_process.h"
#include "core/core.h"
#include "core/optim/optim.h"
#include "distributed/bootstrap.h"
#include "io/io.h"
#include "kernels/cpu/parallel.h"
#include "launch/cli/bench_report.h"
#include "launch/cli/commands.h"
#include "launch/cli/flags.h"

namespace tessera::cli {

namespace po = boost::program_options;
namespace fs = std::filesystem;

namespace {

constexpr double kStoredBytesPerSample = 28 * 28 + 8;

struct LoaderBenchOptions {
  std::string data_dir = "/tmp/tessera_bench_loader";  // Fashion-MNIST shards are written here when missing
  int shards = 3;
  int64_t batch = 64;
  int epochs = 2;
  int repeats = 3;
  std::string ranks = "1,2";
  std::string mpirun = "mpirun --oversubscribe --allow-run-as-root --bind-to none";
  std::string python = "/usr/bin/python3";
  std::string peer;  // default: benchmarks/loader/h5py_peer.py of this source tree
  double cnn_seconds = 5;
  std::string json_path, md_path;
  // worker mode
  bool worker = false;
  bool shuffle = false;
  std::string work_prefix;
};

struct Case {
  std::string compression;
  bool shuffle = false;
  int ranks = 1;
  std::vector<double> tessera{}, h5py{};  // samples/s per repeat
};

std::string source_root() {  // this file is <root>/launch/cli/bench_loader.cpp
  return fs::path(__FILE__).parent_path().parent_path().parent_path().string();
}

std::vector<std::string> shard_files(const LoaderBenchOptions& o, const std::string& compression) {
  std::vector<std::string> files;
  for (int s = 0; s < o.shards; ++s) files.push_back(o.data_dir + "/" + compression + "/" + io::shard_name("train", s, o.shards));
  return files;
}

io::DatasetOptions bench_dataset(const std::vector<std::string>& files) {
  return {.files = files, .arrays = {{.name = "x", .scale = 1.0 / 255}, {.name = "y", .dtype = DType::i64}}};
}

// One rank of one case: write the index lists for the peer, then time --epochs epochs of the Loader.
int run_worker(const LoaderBenchOptions& o, const std::vector<std::string>& files) {
  const auto& world = dist::init();
  auto dataset = std::make_shared<const io::ShardedDataset>(bench_dataset(files));
  const io::LoaderOptions options{.batch_size = o.batch, .shuffle = o.shuffle, .seed = 1, .rank = world.rank,
                                  .world_size = world.size};
  const std::string prefix = o.work_prefix + ".rank" + std::to_string(world.rank);
  {
    io::DistributedSampler sampler({.dataset_size = dataset->size(), .rank = world.rank, .world_size = world.size,
                                    .shuffle = o.shuffle, .seed = 1});
    std::ofstream indices(prefix + ".indices", std::ios::binary);
    for (int e = 0; e < o.epochs; ++e) {
      sampler.set_epoch(e);
      const auto plan = sampler.plan();
      indices.write(reinterpret_cast<const char*>(plan.indices.data()),
                    static_cast<std::streamsize>(plan.indices.size() * sizeof(int64_t)));
    }
  }
  io::Loader loader(dataset, options);
  MPI_Barrier(MPI_COMM_WORLD);
  const auto start = std::chrono::steady_clock::now();
  int64_t samples = 0;
  for (int e = 0; e < o.epochs; ++e)
    while (auto batch = loader.next()) samples += batch->size();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::ofstream(prefix + ".tessera.json") << nlohmann::json{{"seconds", seconds}, {"samples", samples}}.dump();
  return 0;
}

// Runs one child to its end (no shell: paths travel as arguments as they are); a failure names the program.
void run_command(const std::vector<std::string>& argv, const bench::ProcessOptions& options = {}) {
  const int status = bench::wait_process(bench::start_process(argv, options));
  TESSERA_CHECK(status == 0, "bench loader: ", argv[0], " failed (status ", status, ")");
}

// --mpirun "mpirun --flag ...": the program and its flags, split at whitespace.
std::vector<std::string> split_words(const std::string& text) {
  std::vector<std::string> words;
  std::istringstream in(text);
  for (std::string word; in >> word;) words.push_back(word);
  return words;
}

// Samples per second over all ranks: total samples / slowest rank's seconds.
double rate(const std::string& work_prefix, const std::string& side, int ranks) {
  double seconds = 0, samples = 0;
  for (int r = 0; r < ranks; ++r) {
    const std::string path = work_prefix + ".rank" + std::to_string(r) + "." + side + ".json";
    std::ifstream in(path);
    TESSERA_CHECK(in, "bench loader: missing result '", path, "'");
    const auto result = nlohmann::json::parse(in);
    seconds = std::max(seconds, result["seconds"].get<double>());
    samples += result["samples"].get<double>();
  }
  return samples / seconds;
}

void measure(const LoaderBenchOptions& o, Case& c, const std::string& self, const std::string& work_dir) {
  const std::vector<std::string> files = shard_files(o, c.compression);
  const std::string prefix = work_dir + "/" + c.compression + (c.shuffle ? "-shuffled" : "-sequential") + "-np" +
                             std::to_string(c.ranks);
  std::vector<std::string> worker = split_words(o.mpirun);
  worker.insert(worker.end(), {"-n", std::to_string(c.ranks), self, "bench", "loader", "--worker", "--shuffle",
                               c.shuffle ? "1" : "0", "--batch", std::to_string(o.batch), "--epochs",
                               std::to_string(o.epochs), "--work-prefix", prefix, "--files"});
  worker.insert(worker.end(), files.begin(), files.end());
  run_command(worker);
  c.tessera.push_back(rate(prefix, "tessera", c.ranks));
  // The R h5py peers run at the same time, one thread each, like the R worker ranks.
  std::vector<pid_t> peers;
  for (int r = 0; r < c.ranks; ++r) {
    const std::string rank_prefix = prefix + ".rank" + std::to_string(r);
    std::vector<std::string> peer = {o.python, o.peer, "--indices", rank_prefix + ".indices", "--batch",
                                     std::to_string(o.batch), "--epochs", std::to_string(o.epochs), "--scale",
                                     format("%.17g", 1.0 / 255)};
    peer.insert(peer.end(), files.begin(), files.end());
    peers.push_back(
        bench::start_process(peer, {.env = {"OMP_NUM_THREADS=1"}, .stdout_path = rank_prefix + ".h5py.json"}));
  }
  int failed = 0;
  for (pid_t pid : peers) failed += bench::wait_process(pid) != 0;
  TESSERA_CHECK(failed == 0, "bench loader: ", failed, " h5py peer(s) failed (", o.python, " ", o.peer, ")");
  c.h5py.push_back(rate(prefix, "h5py", c.ranks));
}

// Training's consumption rate: samples/s of the cpu_step CNN's SGD-momentum step on batches of o.batch. The best
// window of 5 steps over --cnn-seconds: other processes on a shared machine only ever slow training down, and the
// fastest training is the one the loader must keep up with.
double cnn_samples_per_second(const LoaderBenchOptions& o) {
  manual_seed(0);
  auto model = bench::make_cpu_step_cnn();
  optim::SGD optimizer(model->parameters(), {.lr = 0.01, .momentum = 0.9});
  const Tensor x = randn({o.batch, 1, 28, 28}), y = randint(0, 10, {o.batch});
  auto step = [&] {
    optimizer.zero_grad();
    cross_entropy((*model)(x), y).backward();
    optimizer.step();
  };
  for (int i = 0; i < 3; ++i) step();
  using clock = std::chrono::steady_clock;
  const auto start = clock::now();
  double best = 0;
  while (best == 0 || std::chrono::duration<double>(clock::now() - start).count() < o.cnn_seconds) {
    const auto window = clock::now();
    for (int i = 0; i < 5; ++i) step();
    best = std::max(best, 5.0 * static_cast<double>(o.batch) / std::chrono::duration<double>(clock::now() - window).count());
  }
  return best;
}

void write_reports(const LoaderBenchOptions& o, const std::vector<std::string>& args, const std::vector<Case>& cases,
                   double cnn_rate) {
  nlohmann::json result = {{"when", now_utc()},       {"host", host_name()},
                           {"command", "tessera bench loader" + [&] {
                              std::string s;
                              for (const auto& a : args) s += " " + a;
                              return s;
                            }()},
                           {"batch", o.batch},        {"epochs_per_run", o.epochs},
                           {"repeats", o.repeats},    {"stored_bytes_per_sample", kStoredBytesPerSample},
                           {"cnn_samples_per_s", cnn_rate}, {"cnn_threads", kernels::cpu::num_threads()},
                           {"cases", nlohmann::json::array()}};
  std::ostringstream table;
  table << "# tessera bench loader\n\nFashion-MNIST train (60,000 samples, " << o.shards
        << " shards), batch " << o.batch << ", x as f32 * 1/255 and y as i64, " << o.epochs
        << " epochs per run, median of " << o.repeats << " runs, measured " << now_utc() << " on " << host_name()
        << ". MB/s counts stored bytes (792 B per sample). The CPU CNN of benchmarks/cpu_step (forward + backward + "
        << "SGD-momentum step, batch " << o.batch << ", " << kernels::cpu::num_threads() << " threads, best 5-step window) consumes "
        << format("%.0f", cnn_rate) << " samples/s. 'sequential' is unshuffled: with 2 ranks each rank reads every "
        << "other sample (PyTorch's DistributedSampler split), so its batches are runs of single rows. h5py reads the "
        << "same index lists, one covering slice when the rows span at most 4x their count (every other row), else "
        << "one slice per run of consecutive rows, with a 256 MiB chunk cache per dataset.\n\n"
        << "| compression | order | ranks | Tessera samples/s | MB/s | h5py samples/s | MB/s | Tessera / h5py | Tessera / CNN |\n"
        << "| --- | --- | --- | --- | --- | --- | --- | --- | --- |\n";
  for (const Case& c : cases) {
    const double ours = median(c.tessera), theirs = median(c.h5py);
    result["cases"].push_back({{"compression", c.compression},
                               {"order", c.shuffle ? "shuffled" : "sequential"},
                               {"ranks", c.ranks},
                               {"tessera_samples_per_s", ours},
                               {"tessera_mb_per_s", ours * kStoredBytesPerSample / 1e6},
                               {"h5py_samples_per_s", theirs},
                               {"h5py_mb_per_s", theirs * kStoredBytesPerSample / 1e6},
                               {"ratio_vs_h5py", ours / theirs},
                               {"ratio_vs_cnn", ours / cnn_rate},
                               {"tessera_runs", c.tessera},
                               {"h5py_runs", c.h5py}});
    table << "| " << c.compression << " | " << (c.shuffle ? "shuffled" : "sequential") << " | " << c.ranks << " | "
          << format("%.0f", ours) << " | " << format("%.1f", ours * kStoredBytesPerSample / 1e6) << " | "
          << format("%.0f", theirs) << " | " << format("%.1f", theirs * kStoredBytesPerSample / 1e6) << " | "
          << format("%.2f", ours / theirs) << " | " << format("%.1f", ours / cnn_rate) << " |\n";
  }
  std::cout << "\n" << table.str();
  if (!o.json_path.empty()) std::ofstream(o.json_path) << result.dump(2) << "\n";
  if (!o.md_path.empty()) std::ofstream(o.md_path) << table.str();
}

}  // namespace

int run_bench_loader(const std::vector<std::string>& args) {
  LoaderBenchOptions o;
  std::vector<std::string> files;
  po::options_description flags("usage: tessera bench loader [options]");
  flags.add_options()("help,h", "this help")                                                                       //
      ("data", po::value(&o.data_dir)->default_value(o.data_dir), "Fashion-MNIST shards (written when missing)")  //
      ("shards", at_least(&o.shards, 1, "--shards")->default_value(o.shards), "shards per split")  //
      ("batch", at_least(&o.batch, 1, "--batch")->default_value(o.batch), "samples per batch")  //
      ("epochs", at_least(&o.epochs, 1, "--epochs")->default_value(o.epochs), "epochs per timed run")  //
      ("repeats", at_least(&o.repeats, 1, "--repeats")->default_value(o.repeats),
       "runs per case (the median is reported)")  //
      ("ranks", po::value(&o.ranks)->default_value(o.ranks), "rank counts, comma-separated")                      //
      ("mpirun", po::value(&o.mpirun)->default_value(o.mpirun),
       "mpirun command and flags (split at spaces; no shell)")  //
      ("python", po::value(&o.python)->default_value(o.python), "Python with h5py and numpy")                     //
      ("peer", po::value(&o.peer), "the h5py peer script (default benchmarks/loader/h5py_peer.py)")               //
      ("cnn-seconds", at_least(&o.cnn_seconds, 0, "--cnn-seconds")->default_value(o.cnn_seconds),
       "seconds timing the CNN step")  //
      ("json", po::value(&o.json_path), "write the results as JSON")                                              //
      ("md", po::value(&o.md_path), "write a Markdown table")                                                     //
      ("worker", po::bool_switch(&o.worker), "internal: one rank of one case, under mpirun")                      //
      ("shuffle", po::value(&o.shuffle), "internal (worker): shuffled order")                                     //
      ("work-prefix", po::value(&o.work_prefix), "internal (worker): where to write results")                     //
      ("files", po::value(&files)->multitoken(), "internal (worker): the shards");
  const auto values = parse_flags("bench loader", args, flags);
  if (values.count("help")) {
    std::cout << flags;
    return 0;
  }
  if (o.worker) return run_worker(o, files);
  if (o.peer.empty()) o.peer = source_root() + "/benchmarks/loader/h5py_peer.py";
  TESSERA_CHECK(fs::exists(o.peer), "bench loader: h5py peer script '", o.peer, "' not found (pass --peer)");

  std::vector<Case> cases;
  for (int64_t ranks : parse_integer_list("bench loader", "--ranks", o.ranks, 1))
    for (const std::string compression : {"gzip", "none"})
      for (bool shuffle : {false, true})
        cases.push_back({.compression = compression, .shuffle = shuffle, .ranks = static_cast<int>(ranks)});

  for (const std::string compression : {"gzip", "none"}) {
    if (fs::exists(shard_files(o, compression).back())) continue;
    std::cout << "writing Fashion-MNIST shards to " << o.data_dir << "/" << compression << "\n";
    io::convert_fashion_mnist(
        {.output = {.out_dir = o.data_dir + "/" + compression, .shards = o.shards, .gzip = compression == "gzip"}});
  }

  const std::string self = fs::read_symlink("/proc/self/exe").string();
  const std::string work_dir = o.data_dir + "/work";
  fs::create_directories(work_dir);
  for (int repeat = 0; repeat < o.repeats; ++repeat) {
    for (Case& c : cases) {  // repeats interleaved, so a noisy moment does not hit one case only
      measure(o, c, self, work_dir);
      std::printf("run %d  %-4s %-10s np%d  tessera %9.0f samples/s   h5py %9.0f samples/s\n", repeat, c.compression.c_str(),
                  c.shuffle ? "shuffled" : "sequential", c.ranks, c.tessera.back(), c.h5py.back());
      std::fflush(stdout);
    }
  }
  const double cnn_rate = cnn_samples_per_second(o);
  write_reports(o, args, cases, cnn_rate);
  return 0;
}

}  // namespace tessera::cli
