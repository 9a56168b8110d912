// Training on a GPU for longer than a unit test usually does: 1,000 AdamW steps of the MLP must leave the caching
// allocator exactly where it was after warm-up (no tensor leaks, no cache growth from fragmentation). On cuda:0, or
// under TESSERA_TEST_DEVICE_BACKEND=cuda_on_cpu (core.CudaTraining.cuda_on_cpu) on the CUDA backend compiled for
// the CPU, whose caching allocator is the GPU's; skips otherwise.
#include <gtest/gtest.h>

#include <functional>

#include "launch/cli/bench_models.h"
#include "core/amp/autocast.h"
#include "core/amp/grad_scaler.h"
#include "core/backend_of.h"
#include "core/graph.h"
#include "core/model/model.h"
#include "core/nn/nn.h"
#include "core/optim/optim.h"
#include "kernels/device_info.h"
#include "tests/support/cuda_on_cpu/cuda_on_cpu.h"
#include "tests/support/test_device.h"
#include "tests/support/test_prelude.h"

namespace tessera {
namespace {

TEST(CudaTraining, NoDeviceMemoryGrowthOver1000Steps) {
  Device gpu("cuda:0");
  if (!testing::test_device_runs_cpu_kernels()) gpu = testing::install_test_device();
  else if (kernels::cuda_device_count() == 0) GTEST_SKIP() << "no GPU on this machine";
  auto model = bench::make_cpu_step_mlp();
  model->to(gpu);
  optim::AdamW optimizer(model->parameters(), {.lr = 1e-3});
  const Tensor x = randn({128, 1, 28, 28}, default_generator(), {.device = gpu});
  const Tensor y = randint(0, 10, {128}, default_generator(), {.dtype = DType::i64, .device = gpu});
  auto step = [&] {
    optimizer.zero_grad();
    Tensor loss = cross_entropy((*model)(x), y);
    loss.backward();
    optimizer.step();
    return loss;
  };
  for (int i = 0; i < 10; ++i) step();
  const float warm_loss = step().item<float>();
  const kernels::MemoryStats before = backend_of(gpu).memory_stats();
  Tensor loss;
  for (int i = 0; i < 1000; ++i) loss = step();
  const float final_loss = loss.item<float>();
  loss = Tensor();
  const kernels::MemoryStats after = backend_of(gpu).memory_stats();
  EXPECT_EQ(after.allocated_bytes, before.allocated_bytes) << "tensors leaked on the device";
  EXPECT_EQ(after.cached_bytes + after.allocated_bytes, before.cached_bytes + before.allocated_bytes)
      << "the allocator reserved more device memory";
  EXPECT_LT(final_loss, warm_loss) << "1,000 steps on one batch should fit it";
}

// The design: a training step never makes the host wait for the GPU, except for a value the loop asks for. Counted
// on the CUDA backend compiled for the CPU, whose runtime counts the host waits that find queued work (a GPU has no
// such counter): 20 steps of the CNN with bf16 autocast, gradient clipping, AdamW and a changing learning rate
// queue work and wait for none of it; reading the loss then waits. (With clip_grad_norm_, which returns the norm to
// the host, the steps wait: checked.) Under f16 the same with GradScaler, a step skipped among them: the skip is
// decided and counted on the device (step counts included), so the host never reads the flag.
void expect_steps_without_host_waits(DType precision) {
  const Device gpu = testing::install_test_device();
  auto model = bench::make_cpu_step_cnn();
  model->to(gpu);
  optim::AdamW optimizer(model->parameters(), {.lr = 1e-3});
  amp::GradScaler scaler({.init_scale = 1024.0, .enabled = precision == DType::f16});
  const Tensor x = randn({16, 1, 28, 28}, default_generator(), {.device = gpu});
  const Tensor y = randint(0, 10, {16}, default_generator(), {.dtype = DType::i64, .device = gpu});
  auto step = [&](int k) {
    optimizer.set_lr(1e-3 / (1 + k));
    optimizer.zero_grad();
    Tensor loss;
    {
      amp::AutocastGuard autocast(precision);
      loss = cross_entropy((*model)(x), y);
    }
    // Step 7's loss is inf in f16's range once scaled: its gradients overflow and the scaler skips the step.
    scaler.scale(k == 7 && scaler.enabled() ? loss * 1e30 : loss).backward();
    scaler.unscale_(optimizer);
    optim::clip_grad_norm_on_device_(model->parameters(), 0.1);
    scaler.step(optimizer);
    scaler.update();
    return loss;
  };
  const float first = step(0).item<float>();  // the eager step that makes optimizer state and plans
  const testing::DeviceWorkCounts start = testing::cuda_on_cpu_work_counts();
  const uint64_t before = start.host_waits;
  Tensor loss;
  for (int k = 1; k <= 20; ++k) loss = step(k);
  const testing::DeviceWorkCounts steps = testing::cuda_on_cpu_work_counts() - start;
  EXPECT_EQ(steps.host_waits, 0u) << "a training step made the host wait";
  EXPECT_EQ(steps.pageable_uploads, 0u) << "a step's scalars went through pageable staging, which may wait";
  EXPECT_NE(loss.item<float>(), first);
  EXPECT_GT(testing::cuda_on_cpu_host_waits(), before) << "reading the loss waits, and is counted";
  if (scaler.enabled()) {
    EXPECT_EQ(optimizer.step_count(0), 20) << "one of the 21 steps was skipped";
    EXPECT_EQ(scaler.get_scale(), 512.0) << "the skip halved the scale";
  }
}

TEST(CudaTraining, ABf16StepMakesTheHostWaitForNothing) {
  if (testing::test_device_runs_cpu_kernels()) GTEST_SKIP() << "counts the host waits of the CPU build's runtime";
  expect_steps_without_host_waits(DType::bf16);
}

TEST(CudaTraining, AnF16StepWithLossScalingMakesTheHostWaitForNothing) {
  if (testing::test_device_runs_cpu_kernels()) GTEST_SKIP() << "counts the host waits of the CPU build's runtime";
  expect_steps_without_host_waits(DType::f16);
}

// A replayed step queues everything too: before each replay, the optimizer's learning rate and bias corrections and
// the generator's offsets for dropout travel as a kernel's arguments (kernels/cuda/host_upload.cu), one launch each,
// never through pageable staging, which the runtime may make the host wait for.
TEST(CudaTraining, AGraphReplayMakesTheHostWaitForNothing) {
  if (testing::test_device_runs_cpu_kernels()) GTEST_SKIP() << "counts the host waits of the CPU build's runtime";
  const Device gpu = testing::install_test_device();
  manual_seed(3);
  nn::Sequential model(nn::Linear(16, 32), nn::ReLU(), nn::Dropout(0.25), nn::Linear(32, 10));
  model.to(gpu);
  optim::AdamW optimizer(model.parameters(), {.lr = 1e-3});
  const Tensor x = randn({8, 16}, default_generator(), {.device = gpu});
  const Tensor y = randint(0, 10, {8}, default_generator(), {.dtype = DType::i64, .device = gpu});
  auto step = [&] {
    optimizer.zero_grad();
    Tensor loss = cross_entropy(model(x), y);
    loss.backward();
    optimizer.step();
    return loss.detach();
  };
  const float eager = step().item<float>();  // the eager step that makes optimizer state
  Tensor loss;
  DeviceGraph graph(gpu);
  graph.capture([&] { loss = step(); });
  const testing::DeviceWorkCounts start = testing::cuda_on_cpu_work_counts();
  const auto uploads = [] { return testing::cuda_on_cpu_kernel_launches()["store_inline_bytes"]; };
  const uint64_t uploads_before = uploads();
  for (int k = 1; k <= 10; ++k) {
    optimizer.set_lr(1e-3 / (1 + k));
    graph.replay();
  }
  const testing::DeviceWorkCounts replays = testing::cuda_on_cpu_work_counts() - start;
  EXPECT_EQ(replays.graph_launches, 10u);
  EXPECT_EQ(replays.host_waits, 0u) << "a replay made the host wait";
  EXPECT_EQ(replays.pageable_uploads, 0u) << "a replay's scalars went through pageable staging, which may wait";
  EXPECT_EQ(uploads() - uploads_before, 20u) << "the optimizer's scalars and the random offsets, once per replay";
  EXPECT_NE(loss.item<float>(), eager);
}

// What benchmarks/gpu/work_per_step reports rests on these counts: each launch counted once, when queued (not again
// when it runs), an elementwise op as one kernel (by name), a GEMM as one cuBLASLt call, and a replayed graph as one
// graph launch, none of its nodes again.
TEST(CudaTraining, WorkCountsSeeEachLaunchOnce) {
  if (testing::test_device_runs_cpu_kernels()) GTEST_SKIP() << "counts the CPU build's runtime";
  const Device gpu = testing::install_test_device();
  const Tensor a = randn({8, 8}, default_generator(), {.device = gpu});
  const Tensor b = randn({8, 8}, default_generator(), {.device = gpu});
  synchronize(gpu);
  const testing::DeviceWorkCounts start = testing::cuda_on_cpu_work_counts();
  const auto named = testing::cuda_on_cpu_kernel_launches();
  Tensor sum = a + b;
  const testing::DeviceWorkCounts added = testing::cuda_on_cpu_work_counts() - start;
  EXPECT_EQ(added.kernels, 1u);
  EXPECT_EQ(added.launches(), 1u);
  EXPECT_EQ(testing::cuda_on_cpu_kernel_launches().at("contiguous_kernel<Apply>"),
            (named.count("contiguous_kernel<Apply>") ? named.at("contiguous_kernel<Apply>") : 0) + 1);
  const Tensor product = mm(a, b);
  synchronize(gpu);
  const testing::DeviceWorkCounts multiplied = testing::cuda_on_cpu_work_counts() - start;
  EXPECT_EQ(multiplied.kernels, 1u) << "running the queued work counts nothing";
  EXPECT_EQ(multiplied.library_calls, 1u);
  EXPECT_EQ(multiplied.host_waits, 1u) << "the synchronize found work queued";

  DeviceGraph graph(gpu);
  graph.capture([&] { sum.add_(a); });
  const testing::DeviceWorkCounts captured = testing::cuda_on_cpu_work_counts();
  for (int i = 0; i < 3; ++i) graph.replay();
  const testing::DeviceWorkCounts replayed = testing::cuda_on_cpu_work_counts() - captured;
  EXPECT_EQ(replayed.graph_launches, 3u);
  EXPECT_EQ(replayed.kernels, 0u);
  expect_close(sum.to(Device()), (a + b + 3 * a).to(Device()));
}

// The fused layers queue fewer launches than the ops they replace, counted where the GPU's code runs: a convolution
// with bias and ReLU is one cuDNN call and one kernel (the bias kernel clamps), not two kernels, also as a Sequential's
// Conv2d, ReLU; dropout is one kernel (the mask and the product), not a fill and a multiply.
TEST(CudaTraining, FusedLayersQueueOneKernelLess) {
  if (testing::test_device_runs_cpu_kernels()) GTEST_SKIP() << "counts the CPU build's runtime";
  const Device gpu = testing::install_test_device();
  const TensorOptions options{.device = gpu};
  const Tensor x = randn({2, 3, 8, 8}, default_generator(), options);
  const Tensor w = randn({4, 3, 3, 3}, default_generator(), options), b = randn({4}, default_generator(), options);
  const NoGradGuard no_grad;
  auto launches_of = [](const std::function<Tensor()>& op) {
    const testing::DeviceWorkCounts start = testing::cuda_on_cpu_work_counts();
    op();
    return testing::cuda_on_cpu_work_counts() - start;
  };
  const testing::DeviceWorkCounts fused = launches_of([&] { return conv2d_relu(x, w, b); });
  const testing::DeviceWorkCounts separate = launches_of([&] { return relu(conv2d(x, w, b)); });
  EXPECT_EQ(fused.library_calls, 1u);
  EXPECT_EQ(fused.kernels, 1u);
  EXPECT_EQ(separate.kernels, 2u);
  nn::Sequential block(nn::Conv2d({.in_channels = 3, .out_channels = 4, .kernel_size = 3}), nn::ReLU());
  block.to(gpu);
  EXPECT_EQ(launches_of([&] { return block.forward(x); }).kernels, 1u) << "Sequential runs Conv2d, ReLU fused";
  Generator gen(3);
  EXPECT_EQ(launches_of([&] { return dropout(x, 0.5, true, gen); }).kernels, 1u);
}

// Model::fit asks for one value a step: the step's loss and metric sums, for the progress bar and callbacks. That
// read is its only host wait that finds work queued: an epoch of 2n steps waits n times more than an epoch of n.
// With steps_per_execution 3 it reads once every 3 steps: an epoch of 6 steps waits once more than one of 3.
TEST(CudaTraining, ModelFitWaitsOnlyToReadEachStepsSums) {
  if (testing::test_device_runs_cpu_kernels()) GTEST_SKIP() << "counts the host waits of the CPU build's runtime";
  const Device gpu = testing::install_test_device();
  const Device previous = default_device();
  set_default_device(gpu);  // where Model builds its layers
  auto waits_of_fit = [&](int64_t steps, int64_t steps_per_execution) {
    manual_seed(5);
    model::Model m(json::parse(R"([{"type": "conv2d", "out_channels": 4, "kernel_size": 3}, {"type": "relu"},
                                   {"type": "flatten"}, {"type": "linear", "out_features": 10}])"));
    m.compile({.optimizer = model::adamw({.lr = 1e-3}), .clip_grad_norm = 1.0,
               .steps_per_execution = steps_per_execution});
    const Tensor x = randn({4 * steps, 1, 8, 8}, default_generator(), {.device = gpu});
    const Tensor y = randint(0, 10, {4 * steps}, default_generator(), {.dtype = DType::i64, .device = gpu});
    model::TensorBatchSource train(x, y, {.batch_size = 4, .shuffle = false});
    const uint64_t before = testing::cuda_on_cpu_host_waits();
    m.fit(train, {.epochs = 1});
    return testing::cuda_on_cpu_host_waits() - before;
  };
  const uint64_t short_fit = waits_of_fit(3, 1), long_fit = waits_of_fit(6, 1);
  const uint64_t short_grouped = waits_of_fit(3, 3), long_grouped = waits_of_fit(6, 3);
  set_default_device(previous);
  EXPECT_EQ(long_fit - short_fit, 3u) << short_fit << " waits for 3 steps, " << long_fit << " for 6";
  EXPECT_EQ(long_grouped - short_grouped, 1u)
      << "steps_per_execution 3: " << short_grouped << " waits for 3 steps, " << long_grouped << " for 6";
}

}  // namespace
}  // namespace tessera
