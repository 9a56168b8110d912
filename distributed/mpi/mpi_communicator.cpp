#include "distributed/mpi/mpi_communicator.h"

#include <algorithm>
#include <chrono>
#include <climits>
#include <mutex>
#include <optional>
#include <string>

#include "core/log.h"
#include "core/backend_of.h"
#include "core/check.h"
#include "core/stream.h"
#include "distributed/backends.h"
#include "distributed/bootstrap.h"
#include "distributed/mpi/mpi_types.h"

namespace tessera::dist {

std::shared_ptr<Communicator> make_mpi_communicator(const CommunicatorOptions& options) {
  return std::make_shared<mpi::MpiCommunicator>(options);
}

namespace mpi {

namespace {

// MPI_ERRORS_RETURN makes failures return codes; this turns one into an exception naming the call.
void check_mpi(int code, const CollectiveCall& call, int rank) {
  if (code == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  MPI_Error_string(code, text, &length);
  TESSERA_THROW("MPI ", call.describe(), " failed on rank ", rank, ": ", std::string(text, length));
}

// Checks a buffer a collective reads or writes, naming the collective and the argument.
void check_buffer(const RawBuffer& buffer, const char* collective, const char* argument) {
  TESSERA_CHECK(buffer.numel >= 0 && (buffer.data || buffer.numel == 0), collective, ": ", argument,
                " is not a valid buffer (", buffer.numel, " elements at ", buffer.data, ")");
  TESSERA_CHECK(supported(buffer.dtype), collective, ": the mpi backend does not support ", argument, "'s dtype ",
                dtype_name(buffer.dtype), " (supported: f32, f64, bf16, f16, i32, i64)");
}

// MPI counts are int. allreduce and broadcast run in pieces of at most INT_MAX elements (every rank has the same
// numel, so every rank makes the same calls); allgather and reduce_scatter lay their pieces out per rank, so they
// take one call and refuse larger counts, naming the limit.
constexpr int64_t kMaxMpiCount = INT_MAX;

void check_count(const RawBuffer& buffer, const char* collective, const char* argument) {
  TESSERA_CHECK(buffer.numel <= kMaxMpiCount, collective, ": ", argument, " has ", buffer.numel,
                " elements, more than MPI's int count allows (", kMaxMpiCount, ")");
}

// body(data + offset, count) over [0, numel) in pieces of at most kMaxMpiCount elements; once, with count 0, for
// an empty buffer (as before: the MPI call is still made).
template <typename Body>
void in_pieces(const RawBuffer& buffer, Body body) {
  const int64_t element = static_cast<int64_t>(element_size(buffer.dtype));
  int64_t offset = 0;
  do {
    const int count = static_cast<int>(std::min(kMaxMpiCount, buffer.numel - offset));
    body(static_cast<char*>(buffer.data) + offset * element, count);
    offset += count;
  } while (offset < buffer.numel);
}

// Checks what only tensors can get wrong.
void check_tensor(const Tensor& tensor, const char* collective, const char* argument) {
  TESSERA_CHECK(tensor.defined(), collective, ": ", argument, " is an undefined tensor");
  TESSERA_CHECK(tensor.is_contiguous(), collective, ": ", argument, " must be contiguous (shape ",
                shape_str(tensor.shape()), ")");
}

// A (host) tensor as a raw buffer.
RawBuffer tensor_buffer(const Tensor& tensor) { return {tensor.raw_data(), tensor.numel(), tensor.dtype()}; }

// `t` where MPI can read it: itself on the CPU; on a device, a pinned host buffer of its shape, filled with its
// values by an async copy on the caller's stream when `copy_values`.
Tensor on_host(const Tensor& t, bool copy_values) {
  if (t.device().is_cpu()) return t;
  if (copy_values) return t.detach().to(Device(), /*non_blocking=*/true);
  return empty_pinned(t.shape(), t.dtype(), t.device());
}

// A device collective's Work: its result reaches the device tensor by an async copy from the pinned staging
// buffer, queued once, on the current stream of the first thread that waits for it. So is_completed() says the
// collective has run, not that the device tensor holds the result: that takes wait() (or wait_on_stream()).
// Non-root ranks of a broadcast stage their values too (an in-place collective reads what it writes).
class DeviceResultWork final : public Work {
 public:
  DeviceResultWork(WorkPtr inner, Tensor device_result, Tensor host_result)
      : inner_(std::move(inner)), device_result_(std::move(device_result)), host_result_(std::move(host_result)) {}
  void wait() override {
    inner_->wait();
    std::call_once(copied_, [&] {
      backend_of(device_result_.device())
          .copy_from_host_async(device_result_.raw_data(), host_result_.raw_data(), host_result_.nbytes());
      copied_event_.emplace(device_result_.device());
      copied_event_->record();  // on the stream that queued the copy
      device_result_.bump_version();
    });
    // Every waiter's current stream, not only the first one's, comes after the copy back (wait_on_stream's
    // contract; the nccl backend's wait_on_stream waits on each caller's stream). A no-op on the copying stream.
    copied_event_->wait();
  }
  bool is_completed() override { return inner_->is_completed(); }
  std::optional<WorkTiming> timing() override { return inner_->timing(); }

 private:
  WorkPtr inner_;
  Tensor device_result_, host_result_;
  std::once_flag copied_;
  std::optional<Event> copied_event_;  // after the copy back; set once, inside copied_
};

void check_same_dtype(const RawBuffer& input, const RawBuffer& output, const char* collective) {
  TESSERA_CHECK(output.dtype == input.dtype, collective, ": output is ", dtype_name(output.dtype), " but input is ",
                dtype_name(input.dtype));
}

std::string op_detail(ReduceOp op) { return to_string(op); }

}  // namespace

MpiCommunicator::Owners MpiCommunicator::stage(const Tensor& input, const Tensor& output, const char* name) {
  const bool in_place = &input == &output;
  Owners owners;
  if (!in_place) {
    check_tensor(input, name, "input");
    owners.read = on_host(input, true);
  }
  check_tensor(output, name, in_place ? "tensor" : "output");
  owners.written = on_host(output, in_place);  // an in-place collective reads what it writes
  if (!output.device().is_cpu()) owners.device_result = output;
  const Tensor& device_side = in_place || input.device().is_cpu() ? output : input;
  if (!device_side.device().is_cpu()) {
    owners.staged.emplace(device_side.device());
    owners.staged->record();
  }
  return owners;
}

// On the communication thread: wait for the staging copies, run the MPI call, mark host results written. Device
// results come back at wait() (DeviceResultWork).
template <typename Body>
WorkPtr MpiCommunicator::run(const CollectiveCall& call, const Owners& owners, Body body) {
  // Guarded: describe() costs ~0.5 us, and the arguments of log::debug are built even when it prints nothing.
  if (log::enabled(log::Level::debug)) log::debug("mpi: {} issued", call.describe());
  WorkPtr work = thread_.submit(call, [owners, body, call] {
    const auto start = std::chrono::steady_clock::now();
    if (owners.staged) owners.staged->synchronize();
    body();
    if (!owners.device_result.defined() && owners.written.defined()) owners.written.bump_version();
    if (log::enabled(log::Level::debug))
      log::debug("mpi: {} done in {:.1f} us", call.describe(),
                 std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start).count());
  });
  if (!owners.device_result.defined()) return work;
  return std::make_shared<DeviceResultWork>(std::move(work), owners.device_result, owners.written);
}

DuplicateWorld::DuplicateWorld(Watchdog* watchdog) {
  init();
  const Watchdog::Ticket ticket =
      watchdog ? watchdog->start(CollectiveCall{"setup", "MPI_Comm_dup of MPI_COMM_WORLD", DType::f32, 0, {}}) : 0;
  MPI_Comm_dup(MPI_COMM_WORLD, &comm_);  // MPI_COMM_WORLD's handler is fatal: no error return to miss
  if (watchdog) watchdog->finish(ticket);
  MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN);
}

DuplicateWorld::~DuplicateWorld() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized && comm_ != MPI_COMM_NULL) MPI_Comm_free(&comm_);
}

MpiCommunicator::MpiCommunicator(const CommunicatorOptions& options)
    : watchdog_(WatchdogOptions{.timeout = resolve_collective_timeout(options.timeout), .backend = "mpi"}),
      comm_(&watchdog_),
      rank_(world().rank),
      size_(world().size),
      thread_(watchdog_) {}

WorkPtr MpiCommunicator::allreduce(const Tensor& tensor, ReduceOp op, const CollectiveTag& tag) {
  const Owners owners = stage(tensor, tensor, "allreduce");
  return submit_allreduce(tensor_buffer(owners.written), op, tag, owners);
}
WorkPtr MpiCommunicator::allreduce_raw(const RawBuffer& buffer, ReduceOp op, const CollectiveTag& tag) {
  return submit_allreduce(buffer, op, tag, {});
}

WorkPtr MpiCommunicator::submit_allreduce(const RawBuffer& buffer, ReduceOp op, const CollectiveTag& tag,
                                          Owners owners) {
  check_buffer(buffer, "allreduce", "tensor");
  CollectiveCall call{"allreduce", op_detail(op), buffer.dtype, buffer.numel, tag};
  return run(call, owners, [this, call, buffer, op] {
    in_pieces(buffer, [&](void* data, int count) {
      check_mpi(MPI_Allreduce(MPI_IN_PLACE, data, count, datatype(buffer.dtype), reduce_op(op, buffer.dtype),
                              comm_.get()),
                call, rank_);
    });
    if (op == ReduceOp::avg) divide_in_place(buffer.data, buffer.numel, buffer.dtype, size_);
  });
}

WorkPtr MpiCommunicator::broadcast(const Tensor& tensor, int root, const CollectiveTag& tag) {
  const Owners owners = stage(tensor, tensor, "broadcast");
  return submit_broadcast(tensor_buffer(owners.written), root, tag, owners);
}
WorkPtr MpiCommunicator::broadcast_raw(const RawBuffer& buffer, int root, const CollectiveTag& tag) {
  return submit_broadcast(buffer, root, tag, {});
}

WorkPtr MpiCommunicator::submit_broadcast(const RawBuffer& buffer, int root, const CollectiveTag& tag, Owners owners) {
  check_buffer(buffer, "broadcast", "tensor");
  TESSERA_CHECK(root >= 0 && root < size_, "broadcast: root ", root, " is not a rank of this world (size ", size_,
                ")");
  CollectiveCall call{"broadcast", "root " + std::to_string(root), buffer.dtype, buffer.numel, tag};
  return run(call, owners, [this, call, buffer, root] {
    in_pieces(buffer, [&](void* data, int count) {
      check_mpi(MPI_Bcast(data, count, datatype(buffer.dtype), root, comm_.get()), call, rank_);
    });
  });
}

WorkPtr MpiCommunicator::allgather(const Tensor& input, const Tensor& output, const CollectiveTag& tag) {
  const Owners owners = stage(input, output, "allgather");
  return submit_allgather(tensor_buffer(owners.read), tensor_buffer(owners.written), tag, owners);
}
WorkPtr MpiCommunicator::allgather_raw(const RawBuffer& input, const RawBuffer& output, const CollectiveTag& tag) {
  return submit_allgather(input, output, tag, {});
}

WorkPtr MpiCommunicator::submit_allgather(const RawBuffer& input, const RawBuffer& output, const CollectiveTag& tag,
                                          Owners owners) {
  check_buffer(input, "allgather", "input");
  check_buffer(output, "allgather", "output");
  check_count(input, "allgather", "input");
  check_count(output, "allgather", "output");
  check_same_dtype(input, output, "allgather");
  TESSERA_CHECK(output.numel == input.numel * size_, "allgather: output has ", output.numel,
                " elements, expected size() x input = ", size_, " x ", input.numel);
  CollectiveCall call{"allgather", "", input.dtype, input.numel, tag};
  return run(call, owners, [this, call, input, output] {
    const MPI_Datatype type = datatype(input.dtype);
    const int count = static_cast<int>(input.numel);
    check_mpi(MPI_Allgather(input.data, count, type, output.data, count, type, comm_.get()), call, rank_);
  });
}

WorkPtr MpiCommunicator::reduce_scatter(const Tensor& input, const Tensor& output, ReduceOp op,
                                        const CollectiveTag& tag) {
  const Owners owners = stage(input, output, "reduce_scatter");
  return submit_reduce_scatter(tensor_buffer(owners.read), tensor_buffer(owners.written), op, tag, owners);
}
WorkPtr MpiCommunicator::reduce_scatter_raw(const RawBuffer& input, const RawBuffer& output, ReduceOp op,
                                            const CollectiveTag& tag) {
  return submit_reduce_scatter(input, output, op, tag, {});
}

WorkPtr MpiCommunicator::submit_reduce_scatter(const RawBuffer& input, const RawBuffer& output, ReduceOp op,
                                               const CollectiveTag& tag, Owners owners) {
  check_buffer(input, "reduce_scatter", "input");
  check_buffer(output, "reduce_scatter", "output");
  check_count(input, "reduce_scatter", "input");
  check_count(output, "reduce_scatter", "output");
  check_same_dtype(input, output, "reduce_scatter");
  TESSERA_CHECK(input.numel == output.numel * size_, "reduce_scatter: input has ", input.numel,
                " elements, expected size() x output = ", size_, " x ", output.numel);
  CollectiveCall call{"reduce_scatter", op_detail(op), input.dtype, input.numel, tag};
  return run(call, owners, [this, call, input, output, op] {
    const int count = static_cast<int>(output.numel);
    check_mpi(MPI_Reduce_scatter_block(input.data, output.data, count, datatype(input.dtype),
                                       reduce_op(op, input.dtype), comm_.get()),
              call, rank_);
    if (op == ReduceOp::avg) divide_in_place(output.data, count, output.dtype, size_);
  });
}

WorkPtr MpiCommunicator::barrier(const CollectiveTag& tag) {
  CollectiveCall call{"barrier", "", DType::f32, 0, tag};
  return thread_.submit(call, [this, call] { check_mpi(MPI_Barrier(comm_.get()), call, rank_); });
}

}  // namespace mpi
}  // namespace tessera::dist
