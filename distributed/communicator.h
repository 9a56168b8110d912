#pragma once
// Collective communication between ranks, behind one interface; backends chosen by file:
//   mpi/   CPU tensors; every collective runs on one communication thread, in the order it was issued, so it
//          overlaps the caller's compute.
//   nccl/  CUDA tensors on the backend's own stream (CUDA builds only; stub/ says so otherwise), beside mpi for
//          host tensors (routed_communicator.h).
//
// Invariants:
// - Every rank issues the same collectives in the same order (as with MPI and NCCL). Each carries a
//   CollectiveTag that names it in errors and in the watchdog's timeout message.
// - Tensors must be contiguous and stay alive and untouched until wait() returns; results are written in place.
// - A failed or timed-out collective never returns silently: wait() throws, or the watchdog ends the job.
#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "core/tensor.h"

namespace tessera::dist {

// max and min over a NaN depend on the backend: NCCL's fmaxf/fminf (and __hmax/__hmin) drop it, the mpi backend's
// bf16/f16 operations keep it (as torch.maximum), and MPI_MAX on f32/f64 does what the MPI library does. Reduce a
// NaN flag separately (sum of isnan) where it must decide something.
enum class ReduceOp { sum, avg, max, min };
std::string to_string(ReduceOp op);

// What a collective is for, for error and timeout messages: "allreduce of bucket 3 (1.0 MiB) at step 17".
struct CollectiveTag {
  std::string what;    // e.g. "bucket 3"; empty for plain calls
  int64_t step = -1;   // training step, -1 when not known
};

// A contiguous buffer by address, for memory that is not a Tensor: CUDA device memory for the nccl backend, host
// memory for mpi. The caller keeps it alive and untouched until wait() returns.
struct RawBuffer {
  void* data = nullptr;
  int64_t numel = 0;
  DType dtype = DType::f32;
};

// When a collective ran, for timelines: host times where a host thread ran it (mpi's communication thread), or
// timing events on the collective's stream (nccl; kernels::EventHandle of its GPU, compared with a timing
// tessera::Event of the same GPU through Backend::elapsed_ms). Kept by the Work; valid while it lives.
struct WorkTiming {
  std::chrono::steady_clock::time_point host_start{}, host_end{};
  void* device_start = nullptr;
  void* device_end = nullptr;
  bool on_device() const { return device_start != nullptr; }
};

class Work {
 public:
  virtual ~Work() = default;
  virtual void wait() = 0;           // blocks until done; rethrows the collective's error
  virtual bool is_completed() = 0;   // non-blocking
  // Orders the calling thread's current device stream after the collective, so work queued next reads its result,
  // without blocking the host where the backend can order by events (nccl: the stream waits for the collective's
  // event; a failure or a stuck peer is then reported by the watchdog, which ends the job). Elsewhere it is wait().
  virtual void wait_on_stream() { wait(); }
  // When it ran, once it has completed (mpi), or when asked for with CommunicatorOptions::timing (nccl).
  virtual std::optional<WorkTiming> timing() { return std::nullopt; }
};
using WorkPtr = std::shared_ptr<Work>;

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  virtual std::string backend() const = 0;  // "mpi" or "nccl"

  // In place on every rank. avg divides by size() (integer types: truncating division).
  virtual WorkPtr allreduce(const Tensor& tensor, ReduceOp op = ReduceOp::sum, const CollectiveTag& tag = {}) = 0;
  // In place: root's values land in `tensor` on every rank.
  virtual WorkPtr broadcast(const Tensor& tensor, int root = 0, const CollectiveTag& tag = {}) = 0;
  // output holds size() * input.numel() elements, rank r's input at offset r * input.numel().
  virtual WorkPtr allgather(const Tensor& input, const Tensor& output, const CollectiveTag& tag = {}) = 0;
  // input holds size() * output.numel() elements; rank r receives the reduction of every rank's chunk r.
  virtual WorkPtr reduce_scatter(const Tensor& input, const Tensor& output, ReduceOp op = ReduceOp::sum,
                                 const CollectiveTag& tag = {}) = 0;
  virtual WorkPtr barrier(const CollectiveTag& tag = {}) = 0;

  // The same collectives on raw buffers (same semantics as the Tensor forms). Default: an error saying this
  // backend takes no raw buffers; mpi and nccl both implement them.
  virtual WorkPtr allreduce_raw(const RawBuffer& buffer, ReduceOp op = ReduceOp::sum, const CollectiveTag& tag = {});
  virtual WorkPtr broadcast_raw(const RawBuffer& buffer, int root = 0, const CollectiveTag& tag = {});
  virtual WorkPtr allgather_raw(const RawBuffer& input, const RawBuffer& output, const CollectiveTag& tag = {});
  virtual WorkPtr reduce_scatter_raw(const RawBuffer& input, const RawBuffer& output, ReduceOp op = ReduceOp::sum,
                                     const CollectiveTag& tag = {});
};

struct CommunicatorOptions {
  // "mpi": every tensor over MPI (device tensors staged through pinned host memory).
  // "nccl": device tensors over NCCL, host tensors (control messages: fingerprints, metric sums) over MPI; an
  //   error where NCCL cannot run (a build without it, a CPU device, several ranks sharing one GPU).
  // "auto": "nccl" where every rank can use it for `device`, else "mpi" (agreed by all ranks).
  std::string backend = "auto";
  Device device = Device();  // where the tensors it mostly carries live (gradients: the model's device)
  // Longest a collective may take before the watchdog ends the job; 0 turns it off.
  // Default from TESSERA_COLLECTIVE_TIMEOUT (seconds), else 600 s.
  std::chrono::milliseconds timeout{-1};  // -1: take the default
  // nccl: record timing events around every collective, so Work::timing() can place it on a timeline.
  bool timing = false;
};

// Over all ranks of the world (init() is called if needed).
std::shared_ptr<Communicator> make_communicator(const CommunicatorOptions& options = {});

}  // namespace tessera::dist
