#include "distributed/nccl/nccl_communicator.h"

#include <mpi.h>

#include <string>

#include "core/check.h"
#include "distributed/backends.h"
#include "distributed/bootstrap.h"
#include "distributed/collective_call.h"
#include "distributed/nccl/nccl_types.h"

namespace tessera::dist {

bool nccl_compiled() { return true; }

std::shared_ptr<Communicator> make_nccl_communicator(const CommunicatorOptions& options) {
  return std::make_shared<nccl::NcclCommunicator>(options);
}

namespace nccl {

namespace {

void check_cuda(cudaError_t code, const char* what) {
  TESSERA_CHECK(code == cudaSuccess, "nccl backend: ", what, " failed: ", cudaGetErrorString(code));
}

void check_nccl(ncclResult_t code, const std::string& what) {
  TESSERA_CHECK(code == ncclSuccess, "nccl backend: ", what, " failed: ", ncclGetErrorString(code));
}

void check_buffer(const RawBuffer& buffer, const char* collective, const char* argument) {
  TESSERA_CHECK(buffer.numel >= 0 && (buffer.data || buffer.numel == 0), collective, ": ", argument,
                " is not a valid buffer (", buffer.numel, " elements at ", buffer.data, ")");
  nccl_type(buffer.dtype, collective);
  if (buffer.numel == 0) return;
  cudaPointerAttributes attributes{};
  check_cuda(cudaPointerGetAttributes(&attributes, buffer.data), "cudaPointerGetAttributes");
  TESSERA_CHECK(attributes.type == cudaMemoryTypeDevice || attributes.type == cudaMemoryTypeManaged, collective,
                ": the nccl backend needs device memory, ", argument, " at ", buffer.data, " is not");
}

RawBuffer tensor_buffer(const Tensor& tensor, const char* collective, const char* argument) {
  TESSERA_CHECK(tensor.defined(), collective, ": ", argument, " is an undefined tensor");
  TESSERA_CHECK(tensor.device().is_cuda(), collective, ": the nccl backend takes CUDA tensors, ", argument, " is on ",
                tensor.device().str(), " (use the mpi backend for CPU tensors)");
  TESSERA_CHECK(tensor.is_contiguous(), collective, ": ", argument, " must be contiguous (shape ",
                shape_str(tensor.shape()), ")");
  return {tensor.raw_data(), tensor.numel(), tensor.dtype()};
}

// Completion of one enqueued collective: its end event, polled by the watchdog and waited on by wait().
struct EventState {
  cudaEvent_t event = nullptr;
  ~EventState() {
    if (event) cudaEventDestroy(event);
  }
};

class NcclWork final : public Work {
 public:
  NcclWork(std::shared_ptr<EventState> state, ncclComm_t comm, CollectiveCall call)
      : state_(std::move(state)), comm_(comm), call_(std::move(call)) {}
  void wait() override {
    check_cuda(cudaEventSynchronize(state_->event), "cudaEventSynchronize");
    check_async_error();
  }
  bool is_completed() override {
    const cudaError_t status = cudaEventQuery(state_->event);
    if (status == cudaErrorNotReady) return false;
    check_cuda(status, "cudaEventQuery");
    check_async_error();
    return true;
  }

 private:
  void check_async_error() {
    ncclResult_t async = ncclSuccess;
    check_nccl(ncclCommGetAsyncError(comm_, &async), "ncclCommGetAsyncError");
    check_nccl(async, call_.describe());
  }
  std::shared_ptr<EventState> state_;
  ncclComm_t comm_;  // outlives the work's use: the communicator synchronises its stream before destroying it
  CollectiveCall call_;
};

}  // namespace

NcclCommunicator::NcclCommunicator(const CommunicatorOptions& options)
    : rank_(world().rank), size_(world().size), device_(world().device) {
  TESSERA_CHECK(device_ >= 0, "nccl backend: rank ", rank_, " has no GPU (CUDA reports no device); use the mpi "
                "backend");
  check_cuda(cudaSetDevice(device_), "cudaSetDevice");
  ncclUniqueId id{};
  if (rank_ == 0) check_nccl(ncclGetUniqueId(&id), "ncclGetUniqueId");
  TESSERA_CHECK(MPI_Bcast(&id, sizeof id, MPI_BYTE, 0, MPI_COMM_WORLD) == MPI_SUCCESS,
                "nccl backend: broadcasting the ncclUniqueId over MPI failed");
  check_nccl(ncclCommInitRank(&comm_, size_, id, rank_), "ncclCommInitRank on rank " + std::to_string(rank_) +
                                                             " (GPU " + std::to_string(device_) + ")");
  check_cuda(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking), "cudaStreamCreateWithFlags");
  check_cuda(cudaMalloc(&barrier_scratch_, sizeof(float)), "cudaMalloc");
  watchdog_ = std::make_unique<Watchdog>(
      WatchdogOptions{.timeout = resolve_collective_timeout(options.timeout), .backend = "nccl"});
}

NcclCommunicator::~NcclCommunicator() {
  watchdog_.reset();
  if (stream_) cudaStreamSynchronize(stream_);
  if (comm_) ncclCommDestroy(comm_);
  if (stream_) cudaStreamDestroy(stream_);
  if (barrier_scratch_) cudaFree(barrier_scratch_);
}

WorkPtr NcclCommunicator::finish_enqueue(const CollectiveCall& call) {
  auto state = std::make_shared<EventState>();
  check_cuda(cudaEventCreateWithFlags(&state->event, cudaEventDisableTiming), "cudaEventCreateWithFlags");
  check_cuda(cudaEventRecord(state->event, stream_), "cudaEventRecord");
  watchdog_->start(call, [state] { return cudaEventQuery(state->event) != cudaErrorNotReady; });
  return std::make_shared<NcclWork>(state, comm_, call);
}

WorkPtr NcclCommunicator::allreduce(const Tensor& tensor, ReduceOp op, const CollectiveTag& tag) {
  return allreduce_raw(tensor_buffer(tensor, "allreduce", "tensor"), op, tag);
}
WorkPtr NcclCommunicator::broadcast(const Tensor& tensor, int root, const CollectiveTag& tag) {
  return broadcast_raw(tensor_buffer(tensor, "broadcast", "tensor"), root, tag);
}
WorkPtr NcclCommunicator::allgather(const Tensor& input, const Tensor& output, const CollectiveTag& tag) {
  return allgather_raw(tensor_buffer(input, "allgather", "input"), tensor_buffer(output, "allgather", "output"), tag);
}
WorkPtr NcclCommunicator::reduce_scatter(const Tensor& input, const Tensor& output, ReduceOp op,
                                         const CollectiveTag& tag) {
  return reduce_scatter_raw(tensor_buffer(input, "reduce_scatter", "input"),
                            tensor_buffer(output, "reduce_scatter", "output"), op, tag);
}

WorkPtr NcclCommunicator::allreduce_raw(const RawBuffer& buffer, ReduceOp op, const CollectiveTag& tag) {
  check_buffer(buffer, "allreduce", "tensor");
  CollectiveCall call{"allreduce", to_string(op), buffer.dtype, buffer.numel, tag};
  check_nccl(ncclAllReduce(buffer.data, buffer.data, static_cast<size_t>(buffer.numel),
                           nccl_type(buffer.dtype, "allreduce"), nccl_op(op), comm_, stream_),
             call.describe());
  return finish_enqueue(call);
}

WorkPtr NcclCommunicator::broadcast_raw(const RawBuffer& buffer, int root, const CollectiveTag& tag) {
  check_buffer(buffer, "broadcast", "tensor");
  TESSERA_CHECK(root >= 0 && root < size_, "broadcast: root ", root, " is not a rank of this world (size ", size_,
                ")");
  CollectiveCall call{"broadcast", "root " + std::to_string(root), buffer.dtype, buffer.numel, tag};
  check_nccl(ncclBroadcast(buffer.data, buffer.data, static_cast<size_t>(buffer.numel),
                           nccl_type(buffer.dtype, "broadcast"), root, comm_, stream_),
             call.describe());
  return finish_enqueue(call);
}

WorkPtr NcclCommunicator::allgather_raw(const RawBuffer& input, const RawBuffer& output, const CollectiveTag& tag) {
  check_buffer(input, "allgather", "input");
  check_buffer(output, "allgather", "output");
  TESSERA_CHECK(output.dtype == input.dtype && output.numel == input.numel * size_, "allgather: output is ",
                output.numel, " x ", dtype_name(output.dtype), ", expected size() x input = ", size_, " x ",
                input.numel, " x ", dtype_name(input.dtype));
  CollectiveCall call{"allgather", "", input.dtype, input.numel, tag};
  check_nccl(ncclAllGather(input.data, output.data, static_cast<size_t>(input.numel),
                           nccl_type(input.dtype, "allgather"), comm_, stream_),
             call.describe());
  return finish_enqueue(call);
}

WorkPtr NcclCommunicator::reduce_scatter_raw(const RawBuffer& input, const RawBuffer& output, ReduceOp op,
                                             const CollectiveTag& tag) {
  check_buffer(input, "reduce_scatter", "input");
  check_buffer(output, "reduce_scatter", "output");
  TESSERA_CHECK(output.dtype == input.dtype && input.numel == output.numel * size_, "reduce_scatter: input is ",
                input.numel, " x ", dtype_name(input.dtype), ", expected size() x output = ", size_, " x ",
                output.numel, " x ", dtype_name(output.dtype));
  CollectiveCall call{"reduce_scatter", to_string(op), input.dtype, input.numel, tag};
  check_nccl(ncclReduceScatter(input.data, output.data, static_cast<size_t>(output.numel),
                               nccl_type(input.dtype, "reduce_scatter"), nccl_op(op), comm_, stream_),
             call.describe());
  return finish_enqueue(call);
}

// NCCL has no barrier: a one-element allreduce on the stream orders every rank's earlier collectives before it.
WorkPtr NcclCommunicator::barrier(const CollectiveTag& tag) {
  CollectiveCall call{"barrier", "", DType::f32, 0, tag};
  check_nccl(ncclAllReduce(barrier_scratch_, barrier_scratch_, 1, ncclFloat32, ncclSum, comm_, stream_),
             call.describe());
  return finish_enqueue(call);
}

}  // namespace nccl
}  // namespace tessera::dist
