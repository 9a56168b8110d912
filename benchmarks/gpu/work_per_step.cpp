// work_per_step: what one training step of gpu_step's models asks of a GPU, counted on the CUDA backend compiled
// for the CPU (tests/support/cuda_on_cpu: kernels/cuda's own code, so the same launches as on cuda:0): kernels,
// cuBLASLt/cuDNN calls, copies and memsets per step, eager and as a captured graph, and the device allocations and
// host waits a step makes (both should be 0 once warm). Small models are launch-bound on a GPU (PyTorch's
// Fashion-MNIST CNN step at batch 64 launches 101 kernels and takes 2.34-2.60 ms eager, 0.44 ms as a CUDA graph), so
// this count is the GPU cost that CI can measure on every commit; gpu_step times it on a GPU.
//   work_per_step [--cases mlp:128,cnn:64,cnn:64:bf16,cnn:64:f16,wide_cnn:256] [--steps N] [--out DIR]
// Writes DIR/work-per-step.{json,md} when --out is given. Needs a build with the CUDA headers (exits 77 without).
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "benchmarks/gpu/gpu_step_case.h"
#include "core/graph.h"
#include "tests/support/cuda_on_cpu/cuda_on_cpu.h"
#include "tests/support/test_device.h"

namespace {

using namespace tessera;
using testing::DeviceWorkCounts;

nlohmann::json per_step(const DeviceWorkCounts& total, int steps) {
  nlohmann::json counts = {{"launches", static_cast<double>(total.launches()) / steps}};
#define TESSERA_REPORT_COUNT(name) counts[#name] = static_cast<double>(total.name) / steps;
  TESSERA_DEVICE_WORK_COUNTS(TESSERA_REPORT_COUNT)
#undef TESSERA_REPORT_COUNT
  return counts;
}

// One case: 2 warm-up steps, the counts of `steps` eager steps, then the step captured as a graph (the counts of the
// capture are the graph's nodes) and `steps` replays.
nlohmann::json count_case(const bench::StepCase& c, Device device, int steps) {
  bench::CaseTraining training(c, device);
  Tensor& loss = training.loss;
  auto step = [&] { training.run(); };
  for (int i = 0; i < 2; ++i) step();  // optimizer state, GEMM and convolution plans
  (void)loss.item<float>();
  const DeviceWorkCounts before = testing::cuda_on_cpu_work_counts();
  const std::map<std::string, uint64_t> named_before = testing::cuda_on_cpu_kernel_launches();
  // The emulated runtime queues the work and runs it only when something needs it (here: the loss read below), so
  // this loop times what the host alone spends to queue the steps: autograd, dispatch, the allocator and the
  // backend's host code, plus the emulated runtime's queueing (a GPU driver's launch costs a few us more each).
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < steps; ++i) step();
  const double host_us =
      std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start).count() / steps;
  const DeviceWorkCounts eager = testing::cuda_on_cpu_work_counts() - before;
  nlohmann::json result = {{"eager", per_step(eager, steps)}};
  result["eager"]["host_us_to_queue"] = host_us;
  for (const auto& [name, launches] : testing::cuda_on_cpu_kernel_launches()) {
    const auto earlier = named_before.find(name);
    const uint64_t n = launches - (earlier == named_before.end() ? 0 : earlier->second);
    if (n > 0) result["eager_kernels_by_name"][name] = static_cast<double>(n) / steps;
  }
  (void)loss.item<float>();

  DeviceGraph graph(device);
  const DeviceWorkCounts before_capture = testing::cuda_on_cpu_work_counts();
  graph.capture(step);
  result["graph_nodes"] = per_step(testing::cuda_on_cpu_work_counts() - before_capture, 1);
  graph.replay();
  (void)loss.item<float>();
  const DeviceWorkCounts before_replay = testing::cuda_on_cpu_work_counts();
  for (int i = 0; i < steps; ++i) graph.replay();
  const DeviceWorkCounts replayed = testing::cuda_on_cpu_work_counts() - before_replay;
  result["graph_replay"] = per_step(replayed, steps);
  return result;
}

}  // namespace

int main(int argc, char** argv) {
  std::string cases = "mlp:128,cnn:64,cnn:64:bf16,cnn:64:f16,wide_cnn:256", out_dir;
  int steps = 10;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (i + 1 < argc && arg == "--cases") cases = argv[++i];
    else if (i + 1 < argc && arg == "--steps") steps = std::stoi(argv[++i]);
    else if (i + 1 < argc && arg == "--out") out_dir = argv[++i];
    else {
      std::cerr << "usage: work_per_step [--cases model:batch[:bf16|:f16],...] [--steps N] [--out DIR]\n";
      return 2;
    }
  }
  setenv("TESSERA_TEST_DEVICE_BACKEND", "cuda_on_cpu", 1);
  Device device("cpu");
  try {
    device = testing::install_test_device();
    (void)testing::cuda_on_cpu_work_counts();
  } catch (const Error& e) {
    std::cerr << "work_per_step: " << e.what() << "\n";
    return 77;
  }
  manual_seed(0);
  nlohmann::json report = {{"device", "cuda_on_cpu (kernels/cuda compiled for the CPU)"}, {"steps", steps}};
  std::ostringstream table;
  table << "| model | batch | launches/step | kernels | cuBLASLt+cuDNN calls | copies | memsets | "
           "device allocations/step | host waits/step | graph nodes | host us to queue a step |\n"
           "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n";
  std::vector<bench::StepCase> parsed;
  try {
    parsed = bench::parse_step_cases(cases, "work_per_step");
  } catch (const Error& e) {
    std::cerr << e.what() << "\n";
    return 2;
  }
  for (const bench::StepCase& c : parsed) {
    const nlohmann::json counted = count_case(c, device, steps);
    report["cases"][c.key()] = counted;
    const nlohmann::json& e = counted["eager"];
    table << "| " << c.model << (c.precision == "f32" ? "" : " " + c.precision) << " | " << c.batch << " | "
          << e["launches"] << " | " << e["kernels"] << " | " << e["library_calls"] << " | " << e["copies"] << " | "
          << e["memsets"] << " | " << e["device_allocations"] << " | " << e["host_waits"] << " | "
          << counted["graph_nodes"]["launches"] << " | " << static_cast<int64_t>(e["host_us_to_queue"].get<double>())
          << " |\n";
    std::printf("%-16s %s\n", c.key().c_str(), counted.dump().c_str());
  }
  std::cout << table.str();
  if (!out_dir.empty()) {
    std::filesystem::create_directories(out_dir);
    std::ofstream(out_dir + "/work-per-step.json") << report.dump(1) << "\n";
    std::ofstream(out_dir + "/work-per-step.md") << table.str();
  }
  return 0;
}
