// The nccl backend in one process (world size 1): what this machine can check (the error on a build without CUDA or
// a rank without a GPU), and, on a GPU, every collective and dtype on device memory through the raw-buffer API,
// read back with cudaMemcpy. One rank makes the results identities (NCCL refuses two ranks on one GPU); it still
// runs every NCCL call, the stream, the events, the watchdog's polling and the checks. Skips without a GPU.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "distributed/backends.h"
#include "distributed/bootstrap.h"
#include "kernels/device_info.h"
#include "tests/distributed/collective_values.h"
#include "tests/support/expect_error.h"

#if TESSERA_WITH_CUDA
#include <cuda_runtime.h>
#endif

namespace tessera {
namespace {

bool have_gpu() { return dist::nccl_compiled() && kernels::cuda_device_count() > 0; }

// The GPU this rank uses (as tessera train picks it), for the communicator's device.
Device rank_gpu() { return Device(DeviceType::cuda, std::max(dist::world().device, 0)); }

TEST(NcclBackend, ClearErrorWithoutCudaOrGpu) {
  if (have_gpu()) GTEST_SKIP() << "this rank has a GPU: covered by CollectivesOnOneGpu";
  testing::expect_error([] { dist::make_communicator({.backend = "nccl", .device = rank_gpu()}); },
                        dist::nccl_compiled() ? "has no GPU" : "this build has no NCCL");
}

TEST(NcclBackend, RefusedForTensorsOnTheCpu) {
  // A build without CUDA says that first (ClearErrorWithoutCudaOrGpu), whatever the device.
  testing::expect_error([] { dist::make_communicator({.backend = "nccl"}); },
                        {"backend nccl", "cannot use NCCL", dist::nccl_compiled() ? "cpu" : "this build has no NCCL",
                         "\"mpi\""});
  EXPECT_EQ(dist::make_communicator({.backend = "auto"})->backend(), "mpi");  // auto falls back
}

#if TESSERA_WITH_CUDA

// A device copy of host values, freed at scope exit.
struct DeviceBuffer {
  void* data = nullptr;
  int64_t numel = 0;
  DType dtype;
  DeviceBuffer(const Tensor& host) : numel(host.numel()), dtype(host.dtype()) {
    EXPECT_EQ(cudaMalloc(&data, std::max<size_t>(host.nbytes(), 1)), cudaSuccess);
    EXPECT_EQ(cudaMemcpy(data, host.raw_data(), host.nbytes(), cudaMemcpyHostToDevice), cudaSuccess);
    // A pageable cudaMemcpy may return before its DMA ends, and the NCCL stream is not ordered after it.
    EXPECT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  }
  ~DeviceBuffer() { cudaFree(data); }
  dist::RawBuffer raw() const { return {data, numel, dtype}; }
  std::vector<double> read() const {
    Tensor host = zeros({numel}, {.dtype = dtype});
    EXPECT_EQ(cudaMemcpy(host.raw_data(), data, host.nbytes(), cudaMemcpyDeviceToHost), cudaSuccess);
    return host.to_vector<double>();
  }
};

TEST(NcclBackend, CollectivesOnOneGpu) {
  if (!have_gpu()) GTEST_SKIP() << "no GPU on this machine";
  auto comm = dist::make_communicator({.backend = "nccl", .device = rank_gpu()});
  ASSERT_EQ(comm->backend(), "nccl");
  EXPECT_EQ(dist::make_communicator({.device = rank_gpu()})->backend(), "nccl");  // auto picks it on a GPU
  ASSERT_EQ(comm->size(), 1) << "run this test as a single process";
  for (DType dtype : {DType::f32, DType::f64, DType::bf16, DType::f16, DType::i32, DType::i64}) {
    for (int64_t n : {0, 1, 7, 65537, 1572865}) {
      const Tensor values = testing::as_tensor(testing::collective_values(n, 0, 1, dtype), dtype);
      const std::vector<double> expected = values.to_vector<double>();
      const std::string where = std::string(dtype_name(dtype)) + " n=" + std::to_string(n);
      for (auto op : {dist::ReduceOp::sum, dist::ReduceOp::avg, dist::ReduceOp::max, dist::ReduceOp::min}) {
        DeviceBuffer buffer(values);
        comm->allreduce_raw(buffer.raw(), op, {.what = "test"})->wait();
        EXPECT_EQ(buffer.read(), expected) << "allreduce " << dist::to_string(op) << " " << where;
      }
      DeviceBuffer bcast(values), gathered(zeros({n}, {.dtype = dtype})), scattered(zeros({n}, {.dtype = dtype}));
      auto w1 = comm->broadcast_raw(bcast.raw(), 0);
      auto w2 = comm->allgather_raw(bcast.raw(), gathered.raw());
      auto w3 = comm->reduce_scatter_raw(gathered.raw(), scattered.raw(), dist::ReduceOp::sum);
      w3->wait();  // same stream: the earlier ones are done too
      EXPECT_TRUE(w1->is_completed() && w2->is_completed());
      EXPECT_EQ(bcast.read(), expected) << "broadcast " << where;
      EXPECT_EQ(gathered.read(), expected) << "allgather " << where;
      EXPECT_EQ(scattered.read(), expected) << "reduce_scatter " << where;
    }
  }
  comm->barrier()->wait();
  // The waits above polled events still pending, which leaves cudaErrorNotReady as this thread's last error unless
  // cleared: the next kernel launch's check would then throw.
  EXPECT_NO_THROW(EXPECT_EQ((full({1024}, 1.0, {.device = rank_gpu()}) * 2.0).to_vector<float>(),
                            std::vector<float>(1024, 2.0f)));
  // Zero elements need no memory at all: no NCCL call is made, the Work still completes.
  comm->allreduce_raw({nullptr, 0, DType::f32})->wait();
  comm->allgather_raw({nullptr, 0, DType::bf16}, {nullptr, 0, DType::bf16})->wait();
  // Host tensors (control messages) go over MPI beside NCCL; NCCL itself takes device memory only.
  Tensor host_values = full({3}, 2.0, TensorOptions{.device = Device()});
  comm->allreduce(host_values, dist::ReduceOp::max)->wait();
  EXPECT_EQ(host_values.to_vector<float>(), std::vector<float>(3, 2.0f));
  auto nccl_only = dist::make_nccl_communicator({});
  testing::expect_error([&] { nccl_only->allreduce(full({3}, 1.0)); }, {"allreduce", "GPU tensors", "cpu"});
  std::vector<float> host(4);
  testing::expect_error([&] { comm->allreduce_raw({host.data(), 4, DType::f32}); }, "device memory");
}

// A Work may outlive its communicator: it keeps the NCCL communicator alive until it is gone.
TEST(NcclBackend, WorkOutlivesCommunicator) {
  if (!have_gpu()) GTEST_SKIP() << "no GPU on this machine";
  const Tensor values = testing::as_tensor(testing::collective_values(1000, 0, 1, DType::f32), DType::f32);
  DeviceBuffer buffer(values);
  dist::WorkPtr work;
  {
    auto comm = dist::make_communicator({.backend = "nccl", .device = rank_gpu()});
    work = comm->allreduce_raw(buffer.raw(), dist::ReduceOp::max, {.what = "outliving"});
  }
  work->wait();
  EXPECT_TRUE(work->is_completed());
  EXPECT_EQ(buffer.read(), values.to_vector<double>());
}

#endif  // TESSERA_WITH_CUDA

}  // namespace
}  // namespace tessera
