// gpu_step: one training step (forward, cross-entropy, backward, AdamW; f32, or bf16/f16 under autocast, f16 with
// loss scaling) of each model on a GPU, timed here and in PyTorch on the same GPU in the same run
// (gpu_step_torch.py: the same models, batch sizes, precision and optimizer, eager and as a captured CUDA graph;
// Tessera too, eager and as a DeviceGraph), the
// device memory the allocator holds before and after the timed steps, and a bf16 GEMM (8192^3 by default) in
// TFLOP/s beside torch.matmul.
//   gpu_step [--cases mlp:128,cnn:64,cnn:64:f16,cnn:1024,wide_cnn:256,wide_cnn:256:bf16] [--steps N] [--warmup W]
//            [--device cuda:0] [--gemm-size N] [--torch-python PY] [--out DIR]
// Step time is wall time over N steps between two host synchronisations (the loss is read once at each end), as a
// training loop that prints every few hundred steps sees it. Writes DIR/gpu-step.{json,md}.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <cstdlib>
#include <sstream>
#include <string>
#include <vector>

#include "benchmarks/gpu/gpu_step_case.h"
#include "core/amp/autocast.h"
#include "core/graph.h"
#include "launch/cli/peer_process.h"
#include "core/backend_of.h"
#include "core/core.h"
#include "core/optim/optim.h"
#include "kernels/device_info.h"

namespace {

using namespace tessera;

using bench::StepCase;

nlohmann::json time_case(const StepCase& c, Device device, int warmup, int steps) {
  bench::CaseTraining training(c, device);
  Tensor& loss = training.loss;
  auto step = [&] { training.run(); };
  for (int i = 0; i < warmup; ++i) step();
  (void)loss.item<float>();
  kernels::Backend& backend = backend_of(device);
  const kernels::MemoryStats before = backend.memory_stats();
  using clock = std::chrono::steady_clock;
  const auto start = clock::now();
  for (int i = 0; i < steps; ++i) step();
  const float last_loss = loss.item<float>();
  const double ms = std::chrono::duration<double, std::milli>(clock::now() - start).count() / steps;
  const kernels::MemoryStats after = backend.memory_stats();
  nlohmann::json result = {{"ms_per_step", ms},
                           {"last_loss", last_loss},
                           {"allocated_bytes_before", before.allocated_bytes},
                           {"allocated_bytes_after", after.allocated_bytes},
                           {"cached_bytes_before", before.cached_bytes},
                           {"cached_bytes_after", after.cached_bytes}};
  // The same step captured once and replayed (core/graph.h); a capture failure is reported, not fatal.
  try {
    DeviceGraph graph(device);
    graph.capture(step);
    for (int i = 0; i < warmup; ++i) graph.replay();
    (void)loss.item<float>();
    const auto graph_start = clock::now();
    for (int i = 0; i < steps; ++i) graph.replay();
    result["graph_last_loss"] = loss.item<float>();
    result["graph_ms_per_step"] =
        std::chrono::duration<double, std::milli>(clock::now() - graph_start).count() / steps;
  } catch (const Error& e) {
    result["graph_error"] = e.what();
  }
  return result;
}

// TFLOP/s of c = a @ b for n x n bf16 matrices (f32 accumulation), over `iters` products between two syncs.
double gemm_tflops(Device device, int64_t n, int iters) {
  const Tensor a = randn({n, n}, default_generator(), {.device = device}).to(DType::bf16);
  const Tensor b = randn({n, n}, default_generator(), {.device = device}).to(DType::bf16);
  Tensor c = matmul(a, b);
  synchronize(device);
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < iters; ++i) c = matmul(a, b);
  synchronize(device);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return 2.0 * static_cast<double>(n) * n * n * iters / seconds / 1e12;
}

}  // namespace

int main(int argc, char** argv) {
  std::string cases_arg = "mlp:128,cnn:64,cnn:64:f16,cnn:1024,wide_cnn:256,wide_cnn:256:bf16";
  std::string device_arg = "cuda:0", out_dir, torch_python;
  int steps = 200, warmup = 20;
  int64_t gemm_size = 8192;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::cerr << "gpu_step: " << arg << " needs a value\n";
        std::exit(2);
      }
      return argv[++i];
    };
    if (arg == "--cases") cases_arg = value();
    else if (arg == "--steps") steps = std::stoi(value());
    else if (arg == "--warmup") warmup = std::stoi(value());
    else if (arg == "--device") device_arg = value();
    else if (arg == "--gemm-size") gemm_size = std::stoll(value());
    else if (arg == "--torch-python") torch_python = value();
    else if (arg == "--out") out_dir = value();
    else {
      std::cerr << "usage: gpu_step [--cases model:batch,...] [--steps N] [--warmup W] [--device cuda:0] "
                   "[--gemm-size N] [--torch-python PY] [--out DIR]\n";
      return 2;
    }
  }
  const Device device(device_arg);
  if (device.is_cuda() && kernels::cuda_device_count() == 0) {
    std::cerr << "gpu_step: no GPU on this machine\n";
    return 77;
  }
  manual_seed(0);
  const std::vector<StepCase> cases = bench::parse_step_cases(cases_arg, "gpu_step");
  nlohmann::json result = {{"device", device.str()}, {"steps", steps}, {"warmup", warmup}};
  if (!torch_python.empty()) {
    const std::string output = bench::run_command(
        {torch_python, std::string(TESSERA_SOURCE_DIR) + "/benchmarks/gpu/gpu_step_torch.py", "--cases", cases_arg,
         "--steps", std::to_string(steps), "--warmup", std::to_string(warmup), "--gemm-size",
         std::to_string(gemm_size)});
    if (output.empty()) std::cerr << "gpu_step: the PyTorch peer failed; reporting Tessera alone\n";
    else result["torch"] = nlohmann::json::parse(output);
  }
  std::ostringstream table;
  table << "| model | batch | Tessera ms/step | PyTorch eager ms/step | ratio | Tessera CUDA graph ms/step | "
           "PyTorch CUDA graph ms/step | graph ratio | PyTorch GPU ops/step |\n"
           "| --- | --- | --- | --- | --- | --- | --- | --- | --- |\n";
  for (const StepCase& c : cases) {
    const nlohmann::json ours = time_case(c, device, warmup, steps);
    result["tessera"][c.key()] = ours;
    const double ms = ours["ms_per_step"].get<double>();
    std::printf("%-12s tessera %8.3f ms/step", c.key().c_str(), ms);
    table << "| " << c.model << (c.precision == "f32" ? "" : " " + c.precision) << " | " << c.batch << " | " << ms;
    const nlohmann::json* torch = result.contains("torch") && result["torch"].contains(c.key())
                                      ? &result["torch"][c.key()] : nullptr;
    const double graph_ms = ours.contains("graph_ms_per_step") ? ours["graph_ms_per_step"].get<double>() : 0.0;
    if (graph_ms > 0) std::printf("   graph %8.3f ms/step", graph_ms);
    else std::printf("   graph failed: %s", ours.value("graph_error", std::string("?")).c_str());
    const std::string graph_cell = graph_ms > 0 ? std::to_string(graph_ms) : "failed";
    if (torch) {
      const double eager = (*torch)["eager_ms"].get<double>();
      result["ratio"][c.key()] = eager / ms;  // > 1: Tessera faster
      std::printf("   pytorch eager %8.3f ms/step   speedup %.2fx", eager, eager / ms);
      table << " | " << eager << " | " << eager / ms << " | " << graph_cell << " | ";
      if (torch->contains("graph_ms")) {
        const double theirs = (*torch)["graph_ms"].get<double>();
        table << theirs << " | " << (graph_ms > 0 ? std::to_string(theirs / graph_ms) : "-");
        if (graph_ms > 0) result["graph_ratio"][c.key()] = theirs / graph_ms;
      } else {
        table << "- | -";
      }
      // Kernels, copies and memsets of a PyTorch step (its profiler); Tessera's: benchmarks/gpu/work_per_step.
      table << " | " << (torch->contains("gpu_ops_per_step") ? (*torch)["gpu_ops_per_step"].dump() : "-");
    } else {
      table << " | - | - | " << graph_cell << " | - | - | -";
    }
    table << " |\n";
    std::printf("   allocated %zu -> %zu B, cached %zu -> %zu B\n",
                ours["allocated_bytes_before"].get<size_t>(), ours["allocated_bytes_after"].get<size_t>(),
                ours["cached_bytes_before"].get<size_t>(), ours["cached_bytes_after"].get<size_t>());
  }
  if (gemm_size > 0) {
    const double ours = gemm_tflops(device, gemm_size, 20);
    result["tessera"]["gemm_bf16_tflops"] = ours;
    std::printf("bf16 GEMM %lld^3: tessera %.1f TFLOP/s", static_cast<long long>(gemm_size), ours);
    table << "\n| bf16 GEMM " << gemm_size << "^3 | TFLOP/s | Tessera " << ours;
    if (result.contains("torch") && result["torch"].contains("gemm_bf16_tflops")) {
      const double theirs = result["torch"]["gemm_bf16_tflops"].get<double>();
      result["ratio"]["gemm_bf16"] = ours / theirs;
      std::printf("   torch.matmul %.1f TFLOP/s   ratio %.3f", theirs, ours / theirs);
      table << " | torch.matmul " << theirs << " | " << ours / theirs << " | | | |";
    } else {
      table << " | - | - | | | |";
    }
    table << "\n";
    std::printf("\n");
  }
  if (!out_dir.empty()) {
    std::filesystem::create_directories(out_dir);
    std::ofstream(out_dir + "/gpu-step.json") << result.dump(2) << "\n";
    std::ofstream(out_dir + "/gpu-step.md") << "# gpu_step (AdamW; f32 unless the model names bf16 or f16; "
                                            << device.str() << ", " << steps << " steps; ratio = PyTorch eager / "
                                            << "Tessera ms/step, graph ratio likewise, GEMM ratio = Tessera / "
                                            << "PyTorch TFLOP/s: above 1, Tessera is faster)\n\n" << table.str();
  }
  return 0;
}
