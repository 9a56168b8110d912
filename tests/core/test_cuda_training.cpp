// Training on a GPU for longer than a unit test usually does: 1,000 AdamW steps of the MLP must leave the caching
// allocator exactly where it was after warm-up (no tensor leaks, no cache growth from fragmentation). On cuda:0, or
// under TESSERA_TEST_DEVICE_BACKEND=cuda_on_cpu (core.CudaTraining.cuda_on_cpu) on the CUDA backend compiled for
// the CPU, whose caching allocator is the GPU's; skips otherwise.
#include <gtest/gtest.h>

#include "benchmarks/cpu_step/cpu_step_models.h"
#include "core/backend_of.h"
#include "core/optim/optim.h"
#include "kernels/device_info.h"
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

}  // namespace
}  // namespace tessera
