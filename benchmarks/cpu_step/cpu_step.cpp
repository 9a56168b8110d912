// cpu_step: one training step (forward + backward + SGD-momentum step, batch 128) of an MLP 784-256-128-10, a
// small CNN on 28x28 inputs and an MLP with layer norms (ln_mlp, only when named in --models), timed here and in PyTorch (cpu_step_torch.py, same models, batch, optimizer, precision
// and thread count) in the same run. Prints steps/s for both and their ratio; writes JSON and a Markdown table
// (cpu_step-<N>threads.{json,md}; with --precision bf16, cpu_step-<N>threads-bf16.*: forward and loss under bf16
// autocast on both sides, f32 weights and optimizer).
//   cpu_step [--threads N] [--seconds S] [--batch B] [--models mlp,cnn,ln_mlp] [--precision f32|bf16] [--out DIR]
//            [--no-torch]
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <cstdlib>
#include <sstream>
#include <string>

#include "launch/cli/bench_models.h"
#include "launch/cli/peer_process.h"
#include "core/amp/autocast.h"
#include "core/core.h"
#include "core/nn/nn.h"
#include "core/optim/optim.h"
#include "kernels/cpu/parallel.h"

namespace {

using namespace tessera;

double steps_per_second(nn::Module& model, int64_t batch, bool bf16, double seconds, int warmup, int min_steps) {
  optim::SGD optimizer(model.parameters(), {.lr = 0.01, .momentum = 0.9});
  Tensor x = randn({batch, 1, 28, 28});
  Tensor y = randint(0, 10, {batch});
  auto step = [&] {
    optimizer.zero_grad();
    Tensor loss;
    {
      amp::AutocastGuard autocast(DType::bf16, /*enabled=*/bf16);
      loss = cross_entropy(model(x), y);
    }
    loss.backward();
    optimizer.step();
  };
  for (int i = 0; i < warmup; ++i) step();
  using clock = std::chrono::steady_clock;
  const auto start = clock::now();
  int steps = 0;
  double elapsed = 0;
  while (steps < min_steps || elapsed < seconds) {
    step();
    ++steps;
    elapsed = std::chrono::duration<double>(clock::now() - start).count();
  }
  return steps / elapsed;
}

}  // namespace

int main(int argc, char** argv) {
  int threads = kernels::cpu::num_threads();
  double seconds = 5.0;
  int64_t batch = 128;
  std::string models = "mlp,cnn", precision = "f32", out_dir = TESSERA_SOURCE_DIR "/benchmarks/results";
  bool with_torch = true;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::cerr << "cpu_step: " << arg << " needs a value\n";
        std::exit(2);
      }
      return argv[++i];
    };
    if (arg == "--threads") threads = std::stoi(value());
    else if (arg == "--seconds") seconds = std::stod(value());
    else if (arg == "--batch") batch = std::stoll(value());
    else if (arg == "--models") models = value();
    else if (arg == "--precision") precision = value();
    else if (arg == "--out") out_dir = value();
    else if (arg == "--no-torch") with_torch = false;
    else {
      std::cerr << "usage: cpu_step [--threads N] [--seconds S] [--batch B] [--models mlp,cnn,ln_mlp] "
                   "[--precision f32|bf16] [--out DIR] [--no-torch]\n";
      return 2;
    }
  }
  if (precision != "f32" && precision != "bf16") {
    std::cerr << "cpu_step: --precision must be f32 or bf16, got " << precision << "\n";
    return 2;
  }
  const bool bf16 = precision == "bf16";
  kernels::cpu::set_num_threads(threads);
  manual_seed(0);

  nlohmann::json result = {
      {"threads", threads}, {"batch", batch}, {"precision", precision}, {"seconds_per_model", seconds}};
  if (with_torch) {
    // Debian's PyTorch pairs libgomp with OpenBLAS's pthread pool; with spinning OpenMP workers the two pools fight
    // over the cores (its MLP step at 2 threads runs ~2.5x slower). Passive waiting is PyTorch's best setting here.
    const std::string torch_env = "OMP_WAIT_POLICY=PASSIVE";
    result["torch_env"] = torch_env;
    const std::string output = bench::run_command(
        {TESSERA_PYTHON, std::string(TESSERA_SOURCE_DIR) + "/benchmarks/cpu_step/cpu_step_torch.py", "--threads",
         std::to_string(threads), "--batch", std::to_string(batch), "--seconds", std::to_string(seconds), "--models",
         models, "--precision", precision},
        {torch_env});
    if (output.empty()) std::cerr << "cpu_step: the PyTorch peer failed; reporting Tessera alone\n";
    else result["torch"] = nlohmann::json::parse(output);
  }
  std::stringstream names(models);
  std::string name;
  std::ostringstream table;
  table << "| model | Tessera steps/s | PyTorch steps/s | ratio (Tessera / PyTorch steps/s) |\n"
           "| --- | --- | --- | --- |\n";
  while (std::getline(names, name, ',')) {
    auto model = bench::make_cpu_step_model(name);
    const double ours = steps_per_second(*model, batch, bf16, seconds, 5, 10);
    result["tessera"][name] = ours;
    std::printf("%-4s tessera %8.2f steps/s", name.c_str(), ours);
    table << "| " << name << " | " << ours;
    if (result.contains("torch") && result["torch"].contains(name)) {
      const double theirs = result["torch"][name].get<double>();
      result["ratio"][name] = ours / theirs;
      std::printf("   pytorch %8.2f steps/s   ratio %.2f", theirs, ours / theirs);
      table << " | " << theirs << " | " << ours / theirs;
    } else {
      table << " | - | -";
    }
    table << " |\n";
    std::printf("\n");
  }
  // One run of each side, PyTorch first: on a shared machine the load during each part is what the ratio is worth.
  double load[1] = {-1};
  if (getloadavg(load, 1) == 1) result["load_average_1min_at_end"] = load[0];
  if (!out_dir.empty()) {
    std::filesystem::create_directories(out_dir);
    const std::string stem = out_dir + "/cpu_step-" + std::to_string(threads) + "threads" + (bf16 ? "-bf16" : "");
    std::ofstream(stem + ".json") << result.dump(2) << "\n";
    std::ofstream(stem + ".md") << "# cpu_step (" << (bf16 ? "bf16 autocast" : "f32") << ", batch " << batch << ", "
                                << threads << " threads, SGD momentum)\n\n" << table.str();
  }
  return 0;
}
