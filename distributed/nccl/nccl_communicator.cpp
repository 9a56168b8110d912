#include "distributed/nccl/nccl_communicator.h"


#include <atomic>
#include <chrono>
#include <exception>
#include <string>
#include <thread>

#include "core/log.h"
#include "core/check.h"
#include "distributed/backends.h"
#include "distributed/bootstrap.h"
#include "distributed/collective_call.h"
#include "distributed/nccl/nccl_types.h"
#include "distributed/nccl/nccl_world.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/stream.h"

namespace tessera::dist {

bool nccl_compiled() { return true; }

std::string nccl_version() {
  int version = 0;
  ncclGetVersion(&version);  // major * 10000 + minor * 100 + patch
  return "NCCL " + std::to_string(version / 10000) + "." + std::to_string(version / 100 % 100) + "." +
         std::to_string(version % 100);
}

std::shared_ptr<Communicator> make_nccl_communicator(const CommunicatorOptions& options) {
  return std::make_shared<nccl::NcclCommunicator>(options);
}

namespace nccl {

constexpr const char* kWho = "nccl backend";

// The NCCL communicator and what it enqueues on, alive while the communicator or any of its Works is.
struct CommState {
  int device = -1;
  ncclComm_t comm = nullptr;
  cudaStream_t stream = nullptr;
  cudaEvent_t inputs_ready = nullptr;  // recorded on the caller's current (compute) stream before each collective
  void* barrier_scratch = nullptr;     // one float on the device: a barrier is an allreduce of it
  // Collectives' end events, reused: creating and destroying one per collective cost the host two driver calls.
  std::mutex spare_events_mutex;
  std::vector<cudaEvent_t> spare_events;
  // Set when the communicator goes while an exception unwinds or its stream did not drain: ncclCommDestroy would
  // flush outstanding work, which may wait for peers forever, and nothing watches it then.
  bool abort_on_destroy = false;
  // The tensors of collectives still queued or running then: NCCL may write them until ncclCommAbort, so they go
  // back to the caching allocator only after it (members are destroyed after the destructor's body).
  std::vector<Tensor> held_until_abort;

  ncclResult_t async_error() const {
    ncclResult_t async = ncclSuccess;
    const ncclResult_t query = ncclCommGetAsyncError(comm, &async);
    return query != ncclSuccess ? query : async;
  }
  cudaEvent_t take_event() {
    {
      std::lock_guard lock(spare_events_mutex);
      if (!spare_events.empty()) {
        const cudaEvent_t event = spare_events.back();
        spare_events.pop_back();
        return event;
      }
    }
    cudaEvent_t event = nullptr;
    check_cuda(cudaEventCreateWithFlags(&event, cudaEventDisableTiming), "nccl backend", "cudaEventCreateWithFlags");
    return event;
  }
  // Only events no Work or watchdog refers to any more: re-recording one moves its point.
  void give_back_event(cudaEvent_t event) {
    std::lock_guard lock(spare_events_mutex);
    spare_events.push_back(event);
  }
  // The compute stream, which the held tensors' blocks go back to, waits for what is left on this stream (aborted
  // kernels end; the host does not wait for them).
  // Called from the destructor on a path where something already failed: it never throws (current_stream can), so
  // the first error, not std::terminate, is what the job reports.
  void compute_after_stream() noexcept {
    cudaEvent_t drained = nullptr;
    if (cudaEventCreateWithFlags(&drained, cudaEventDisableTiming) != cudaSuccess) return;
    try {
      if (cudaEventRecord(drained, stream) == cudaSuccess)
        cudaStreamWaitEvent(kernels::cuda::current_stream(device), drained, 0);
    } catch (...) {  // the compute stream is unusable: the held blocks stay held
    }
    cudaEventDestroy(drained);
  }
  ~CommState() {
    if (device >= 0) cudaSetDevice(device);  // -1 when init failed before a device was chosen
    for (cudaEvent_t event : spare_events) cudaEventDestroy(event);
    if (comm) {
      if (abort_on_destroy || async_error() != ncclSuccess) {
        ncclCommAbort(comm);
        if (!held_until_abort.empty()) compute_after_stream();
      } else {
        if (stream) cudaStreamSynchronize(stream);
        ncclCommDestroy(comm);
      }
    }
    if (stream) cudaStreamDestroy(stream);
    if (inputs_ready) cudaEventDestroy(inputs_ready);
    if (barrier_scratch) cudaFree(barrier_scratch);
  }
};

namespace {

// NCCL's own words on the last failure (NCCL >= 2.13), for the message that ends the job.
std::string last_error([[maybe_unused]] ncclComm_t comm) {
#if NCCL_VERSION_CODE >= NCCL_VERSION(2, 13, 0)
  return std::string(" (") + ncclGetLastError(comm) + ")";
#else
  return "";
#endif
}

// `on_device`: the memory is known to be on `device` (a CUDA tensor there), which spares asking the driver.
void check_buffer(const RawBuffer& buffer, int device, const char* collective, const char* argument,
                  bool on_device) {
  TESSERA_CHECK(buffer.numel >= 0 && (buffer.data || buffer.numel == 0), collective, ": ", argument,
                " is not a valid buffer (", buffer.numel, " elements at ", buffer.data, ")");
  nccl_type(buffer.dtype, collective);
  if (buffer.numel == 0 || on_device) return;
  cudaPointerAttributes attributes{};
  check_cuda(cudaPointerGetAttributes(&attributes, buffer.data), collective, "cudaPointerGetAttributes");
  TESSERA_CHECK(attributes.type == cudaMemoryTypeDevice || attributes.type == cudaMemoryTypeManaged, collective,
                ": the nccl backend needs device memory, ", argument, " at ", buffer.data, " is not");
  TESSERA_CHECK(attributes.type == cudaMemoryTypeManaged || attributes.device == device, collective, ": ", argument,
                " is on GPU ", attributes.device, ", but this rank's nccl communicator uses GPU ", device);
}

// Whether tensors[k] (a tensor form's k-th buffer) is a CUDA tensor on `device`.
bool cuda_tensor_on(const std::vector<Tensor>& tensors, size_t k, int device) {
  return k < tensors.size() && tensors[k].device().is_cuda() && tensors[k].device().index == device;
}

RawBuffer tensor_buffer(const Tensor& tensor, const char* collective, const char* argument) {
  TESSERA_CHECK(tensor.defined(), collective, ": ", argument, " is an undefined tensor");
  // Any device but the CPU here; check_buffer then asks the CUDA runtime whether the memory is on this rank's GPU.
  TESSERA_CHECK(!tensor.device().is_cpu(), collective, ": the nccl backend takes GPU tensors, ", argument, " is on ",
                tensor.device().str(), " (use the mpi backend for CPU tensors)");
  TESSERA_CHECK(tensor.is_contiguous(), collective, ": ", argument, " must be contiguous (shape ",
                shape_str(tensor.shape()), ")");
  return {tensor.raw_data(), tensor.numel(), tensor.dtype()};
}

// Completion of one enqueued collective: its end event, polled by the watchdog and waited on by wait().
struct EventState {
  int device = -1;
  std::shared_ptr<CommState> comm;  // where `event` came from and goes back to
  cudaEvent_t event = nullptr;
  cudaEvent_t timing_start = nullptr, timing_end = nullptr;  // CommunicatorOptions::timing only
  ~EventState() {
    if (event) comm->give_back_event(event);
    for (cudaEvent_t e : {timing_start, timing_end})
      if (e) cudaEventDestroy(e);
  }
  // true once passed, false while pending; throws on a CUDA error. Selects the GPU first: the calling thread (the
  // watchdog's, or any thread that waits) may never have, and would otherwise create a context on GPU 0.
  bool passed(const CollectiveCall& call) const {
    cudaSetDevice(device);
    const cudaError_t status = cudaEventQuery(event);
    if (cuda_still_pending(status)) return false;
    check_cuda(status, kWho, "cudaEventQuery after", call);
    return true;
  }
  // For those that only need to know whether anything is left to wait for: true once passed, and after a CUDA
  // error too (wait() reports it).
  bool settled(const CollectiveCall& call) const {
    try {
      return passed(call);
    } catch (const std::exception&) {
      return true;
    }
  }
};

class NcclWork final : public Work {
 public:
  NcclWork(std::shared_ptr<EventState> event, std::shared_ptr<CommState> comm, CollectiveCall call, bool watched,
           std::vector<Tensor> tensors)
      : event_(std::move(event)),
        comm_(std::move(comm)),
        call_(std::move(call)),
        watched_(watched),
        tensors_(std::move(tensors)) {}

  // Spins (yielding) for the first millisecond, which covers most collectives at the latency of
  // cudaEventSynchronize, then polls every 100 us; an NCCL asynchronous error ends the wait with an exception.
  void wait() override {
    const auto start = std::chrono::steady_clock::now();
    while (!event_->passed(call_)) {
      check_async_error();
      if (std::chrono::steady_clock::now() - start < std::chrono::milliseconds(1)) {
        std::this_thread::yield();
      } else {
        std::this_thread::sleep_for(std::chrono::microseconds(100));
      }
    }
    check_async_error();
  }
  bool is_completed() override {
    const bool passed = event_->passed(call_);
    check_async_error();
    return passed;
  }
  std::optional<WorkTiming> timing() override {
    if (!event_->timing_start) return std::nullopt;
    return WorkTiming{.device_start = event_->timing_start, .device_end = event_->timing_end};
  }
  // Without a watchdog nobody would see an NCCL failure while the stream waits: then the host waits itself.
  void wait_on_stream() override {
    if (!watched_) return wait();
    check_async_error();
    check_cuda(cudaStreamWaitEvent(kernels::cuda::current_stream(event_->device), event_->event, 0), kWho,
               "cudaStreamWaitEvent after", call_);
  }

 private:
  void check_async_error() const { check_nccl(comm_->async_error(), kWho, call_); }

  std::shared_ptr<EventState> event_;
  std::shared_ptr<CommState> comm_;  // keeps the ncclComm_t alive while this Work can still ask it for errors
  CollectiveCall call_;
  bool watched_;
  std::vector<Tensor> tensors_;  // alive while the Work is (the communicator keeps them until the event passed)
};

}  // namespace

struct NcclCommunicator::InFlight {
  std::shared_ptr<EventState> event;
  CollectiveCall call;
  std::vector<Tensor> tensors;
  Watchdog::Ticket ticket = 0;
};

// One stream: collectives pass in the order they were enqueued, so the first pending one ends the sweep. The
// watchdog stops watching those too: it polls only about once a second, and until then its entries would hold
// every end event of that second (thousands, on a GPU), so the pool would grow to that many.
void NcclCommunicator::release_passed() {
  while (!in_flight_.empty() && in_flight_.front()->event->settled(in_flight_.front()->call)) {
    watchdog_->finish(in_flight_.front()->ticket);
    in_flight_.pop_front();
  }
}

NcclCommunicator::NcclCommunicator(const CommunicatorOptions& options)
    : rank_(world().rank), size_(world().size), timing_(options.timing), state_(std::make_shared<CommState>()) {
  // The GPU the tensors live on (make_communicator's duplicate-GPU check looked at options.device too).
  // (A rank without a GPU keeps world().device, -1: init_world_comm says so.)
  state_->device = options.device.is_cuda() && world().device >= 0 ? options.device.index : world().device;
  // Made first: the id broadcast over MPI_COMM_WORLD and ncclCommInitRank block until every rank joins, so a rank
  // stuck before them ends the job with the watchdog's message, not a silent hang.
  watchdog_ = std::make_unique<Watchdog>(
      WatchdogOptions{.timeout = resolve_collective_timeout(options.timeout), .backend = "nccl"});
  const Watchdog::Ticket setup =
      watchdog_->start(CollectiveCall{"setup", "ncclUniqueId broadcast and ncclCommInitRank", DType::f32, 0, {}});
  try {
    state_->comm = init_world_comm(state_->device, kWho);
  } catch (...) {
    watchdog_->finish(setup);
    throw;
  }
  watchdog_->finish(setup);
  check_cuda(cudaStreamCreateWithFlags(&state_->stream, cudaStreamNonBlocking), kWho, "cudaStreamCreateWithFlags");
  check_cuda(cudaEventCreateWithFlags(&state_->inputs_ready, cudaEventDisableTiming), kWho,
             "cudaEventCreateWithFlags");
  check_cuda(cudaMalloc(&state_->barrier_scratch, sizeof(float)), kWho, "cudaMalloc of the barrier's float");
  // On the NCCL stream, which does not wait for the legacy default stream (the value is never read; kept tidy).
  check_cuda(cudaMemsetAsync(state_->barrier_scratch, 0, sizeof(float), state_->stream), kWho,
             "cudaMemsetAsync of the barrier's float");
}

// Drains the stream while the watchdog still watches (a collective that never ends then ends the job with the
// watchdog's message rather than hanging here), or until NCCL reports an error; then, or while an exception
// unwinds, CommState aborts the NCCL communicator instead of destroying it, and frees the tensors of the collectives
// not seen to pass only after that.
NcclCommunicator::~NcclCommunicator() {
  cudaSetDevice(state_->device);
  while (cuda_still_pending(cudaStreamQuery(state_->stream)) && state_->async_error() == ncclSuccess) {
    std::this_thread::sleep_for(std::chrono::microseconds(100));
  }
  if (std::uncaught_exceptions() > 0 || state_->async_error() != ncclSuccess) {
    state_->abort_on_destroy = true;
    std::lock_guard lock(enqueue_mutex_);
    release_passed();
    for (const auto& pending : in_flight_)
      state_->held_until_abort.insert(state_->held_until_abort.end(), pending->tensors.begin(), pending->tensors.end());
    in_flight_.clear();
  }
  watchdog_.reset();
}

cudaStream_t NcclCommunicator::stream() const { return state_->stream; }

template <typename Issue>
WorkPtr NcclCommunicator::enqueue(const CollectiveCall& call, bool empty, Issue issue, std::vector<Tensor> tensors) {
  std::lock_guard lock(enqueue_mutex_);
  release_passed();
  if (log::enabled(log::Level::debug)) log::debug("nccl: {} enqueued on GPU {}", call.describe(), state_->device);
  check_cuda(cudaSetDevice(state_->device), kWho, "cudaSetDevice");
  // After the kernels that wrote the inputs: those run on the device's current (compute) stream, which is
  // non-blocking, so the legacy default stream would not order them.
  check_cuda(cudaEventRecord(state_->inputs_ready, kernels::cuda::current_stream(state_->device)), kWho,
             "cudaEventRecord before", call);
  check_cuda(cudaStreamWaitEvent(state_->stream, state_->inputs_ready, 0), kWho, "cudaStreamWaitEvent before", call);
  auto event = std::make_shared<EventState>();
  event->device = state_->device;
  event->comm = state_;
  if (timing_) {
    check_cuda(cudaEventCreate(&event->timing_start), kWho, "cudaEventCreate");
    check_cuda(cudaEventCreate(&event->timing_end), kWho, "cudaEventCreate");
    check_cuda(cudaEventRecord(event->timing_start, state_->stream), kWho, "cudaEventRecord");
  }
  event->event = state_->take_event();  // back to the pool with the last EventState, also if the call below fails
  // Watched from before the NCCL call: in blocking mode ncclAllReduce can block this thread (runtime connection
  // setup with the peers on first use of an algorithm, NCCL_RUNTIME_CONNECT=1; work-FIFO back-pressure), and a
  // peer that never gets there must still end the job. `recorded` keeps a reused (already passed) pool event
  // from counting as this collective's end before it is recorded.
  auto recorded = std::make_shared<std::atomic<bool>>(false);
  const Watchdog::Ticket ticket =
      watchdog_->start(call, [event, call, state = state_, rank = rank_, size = size_, recorded]() {
        const ncclResult_t error = state->async_error();
        if (error != ncclSuccess) {
          abort_job("NCCL error on rank " + std::to_string(rank) + " of " + std::to_string(size) + " in " +
                    call.describe() + ": " + ncclGetErrorString(error) + last_error(state->comm));
        }
        return recorded->load(std::memory_order_acquire) && event->settled(call);
      });
  try {
    if (!empty) check_nccl(issue(), kWho, call);
    if (timing_) check_cuda(cudaEventRecord(event->timing_end, state_->stream), kWho, "cudaEventRecord");
    check_cuda(cudaEventRecord(event->event, state_->stream), kWho, "cudaEventRecord after", call);
  } catch (...) {
    watchdog_->finish(ticket);
    throw;
  }
  recorded->store(true, std::memory_order_release);
  // in_flight_ holds the tensors until the collective's event has passed: their memory goes back to the caching
  // allocator (and to the compute stream's next allocation) only after NCCL is done with it, whatever the caller
  // does with its tensors or the Work meanwhile.
  in_flight_.push_back(std::make_unique<InFlight>(InFlight{event, call, tensors}));
  in_flight_.back()->ticket = ticket;
  return std::make_shared<NcclWork>(event, state_, call, watchdog_->timeout().count() > 0, std::move(tensors));
}

WorkPtr NcclCommunicator::allreduce(const Tensor& tensor, ReduceOp op, const CollectiveTag& tag) {
  return allreduce_buffer(tensor_buffer(tensor, "allreduce", "tensor"), op, tag, {tensor});
}
WorkPtr NcclCommunicator::broadcast(const Tensor& tensor, int root, const CollectiveTag& tag) {
  return broadcast_buffer(tensor_buffer(tensor, "broadcast", "tensor"), root, tag, {tensor});
}
WorkPtr NcclCommunicator::allgather(const Tensor& input, const Tensor& output, const CollectiveTag& tag) {
  return allgather_buffers(tensor_buffer(input, "allgather", "input"), tensor_buffer(output, "allgather", "output"),
                           tag, {input, output});
}
WorkPtr NcclCommunicator::reduce_scatter(const Tensor& input, const Tensor& output, ReduceOp op,
                                         const CollectiveTag& tag) {
  return reduce_scatter_buffers(tensor_buffer(input, "reduce_scatter", "input"),
                                tensor_buffer(output, "reduce_scatter", "output"), op, tag, {input, output});
}

WorkPtr NcclCommunicator::allreduce_raw(const RawBuffer& buffer, ReduceOp op, const CollectiveTag& tag) {
  return allreduce_buffer(buffer, op, tag, {});
}
WorkPtr NcclCommunicator::broadcast_raw(const RawBuffer& buffer, int root, const CollectiveTag& tag) {
  return broadcast_buffer(buffer, root, tag, {});
}
WorkPtr NcclCommunicator::allgather_raw(const RawBuffer& input, const RawBuffer& output, const CollectiveTag& tag) {
  return allgather_buffers(input, output, tag, {});
}
WorkPtr NcclCommunicator::reduce_scatter_raw(const RawBuffer& input, const RawBuffer& output, ReduceOp op,
                                             const CollectiveTag& tag) {
  return reduce_scatter_buffers(input, output, op, tag, {});
}

// Counts are elements (NCCL converts to bytes itself); allgather's is per rank (sendcount), reduce_scatter's is the
// output's (recvcount). Buffers are never NCCL's "in place" layouts unless the caller passes them so.
WorkPtr NcclCommunicator::allreduce_buffer(const RawBuffer& buffer, ReduceOp op, const CollectiveTag& tag,
                                           std::vector<Tensor> tensors) {
  check_buffer(buffer, state_->device, "allreduce", "tensor", cuda_tensor_on(tensors, 0, state_->device));
  const CollectiveCall call{"allreduce", to_string(op), buffer.dtype, buffer.numel, tag};
  return enqueue(call, buffer.numel == 0, [&] {
    return ncclAllReduce(buffer.data, buffer.data, static_cast<size_t>(buffer.numel),
                         nccl_type(buffer.dtype, "allreduce"), nccl_op(op), state_->comm, state_->stream);
  }, std::move(tensors));
}

WorkPtr NcclCommunicator::broadcast_buffer(const RawBuffer& buffer, int root, const CollectiveTag& tag,
                                           std::vector<Tensor> tensors) {
  check_buffer(buffer, state_->device, "broadcast", "tensor", cuda_tensor_on(tensors, 0, state_->device));
  TESSERA_CHECK(root >= 0 && root < size_, "broadcast: root ", root, " is not a rank of this world (size ", size_,
                ")");
  const CollectiveCall call{"broadcast", "root " + std::to_string(root), buffer.dtype, buffer.numel, tag};
  return enqueue(call, buffer.numel == 0, [&] {
    return ncclBroadcast(buffer.data, buffer.data, static_cast<size_t>(buffer.numel),
                         nccl_type(buffer.dtype, "broadcast"), root, state_->comm, state_->stream);
  }, std::move(tensors));
}

WorkPtr NcclCommunicator::allgather_buffers(const RawBuffer& input, const RawBuffer& output, const CollectiveTag& tag,
                                            std::vector<Tensor> tensors) {
  check_buffer(input, state_->device, "allgather", "input", cuda_tensor_on(tensors, 0, state_->device));
  check_buffer(output, state_->device, "allgather", "output", cuda_tensor_on(tensors, 1, state_->device));
  TESSERA_CHECK(output.dtype == input.dtype && output.numel == input.numel * size_, "allgather: output is ",
                output.numel, " x ", dtype_name(output.dtype), ", expected size() x input = ", size_, " x ",
                input.numel, " x ", dtype_name(input.dtype));
  const CollectiveCall call{"allgather", "", input.dtype, input.numel, tag};
  return enqueue(call, input.numel == 0, [&] {
    return ncclAllGather(input.data, output.data, static_cast<size_t>(input.numel),
                         nccl_type(input.dtype, "allgather"), state_->comm, state_->stream);
  }, std::move(tensors));
}

WorkPtr NcclCommunicator::reduce_scatter_buffers(const RawBuffer& input, const RawBuffer& output, ReduceOp op,
                                                 const CollectiveTag& tag, std::vector<Tensor> tensors) {
  check_buffer(input, state_->device, "reduce_scatter", "input", cuda_tensor_on(tensors, 0, state_->device));
  check_buffer(output, state_->device, "reduce_scatter", "output", cuda_tensor_on(tensors, 1, state_->device));
  TESSERA_CHECK(output.dtype == input.dtype && input.numel == output.numel * size_, "reduce_scatter: input is ",
                input.numel, " x ", dtype_name(input.dtype), ", expected size() x output = ", size_, " x ",
                output.numel, " x ", dtype_name(output.dtype));
  const CollectiveCall call{"reduce_scatter", to_string(op), input.dtype, input.numel, tag};
  return enqueue(call, output.numel == 0, [&] {
    return ncclReduceScatter(input.data, output.data, static_cast<size_t>(output.numel),
                             nccl_type(input.dtype, "reduce_scatter"), nccl_op(op), state_->comm, state_->stream);
  }, std::move(tensors));
}

// NCCL has no barrier: a one-element allreduce on the stream orders every rank's earlier collectives before it.
WorkPtr NcclCommunicator::barrier(const CollectiveTag& tag) {
  const CollectiveCall call{"barrier", "", DType::f32, 0, tag};
  return enqueue(call, false, [&] {
    return ncclAllReduce(state_->barrier_scratch, state_->barrier_scratch, 1, ncclFloat32, ncclSum, state_->comm,
                         state_->stream);
  }, {});
}

}  // namespace nccl
}  // namespace tessera::dist
