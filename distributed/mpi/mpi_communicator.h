#pragma once
// The MPI backend: host tensors (device tensors staged through pinned host memory), collectives on a duplicate of MPI_COMM_WORLD (so they never match the caller's own
// MPI calls), run by one communication thread per communicator in issue order.
//
// Invariants:
// - Arguments are checked on the caller's thread, so a bad tensor throws from the call itself, not from wait().
// - The Work keeps its tensors alive until the collective has run; results are written in place.
// - Members are destroyed in reverse order: the thread drains and stops before the watchdog and the communicator.
#include <mpi.h>

#include <memory>
#include <optional>

#include "core/stream.h"
#include "distributed/communicator.h"
#include "distributed/mpi/comm_thread.h"
#include "distributed/watchdog.h"

namespace tessera::dist::mpi {

// MPI_Comm_dup of MPI_COMM_WORLD with errors returned (not fatal), freed unless MPI is already finalised. The dup
// is collective (it blocks until every rank calls it), so it is watched: a rank stuck before it (a hung file
// system while the data is scanned, a wedged GPU) ends the job with the watchdog's message instead of a silent hang.
class DuplicateWorld {
 public:
  explicit DuplicateWorld(Watchdog* watchdog = nullptr);  // the benchmark's raw peer passes none
  ~DuplicateWorld();
  DuplicateWorld(const DuplicateWorld&) = delete;
  DuplicateWorld& operator=(const DuplicateWorld&) = delete;
  MPI_Comm get() const { return comm_; }

 private:
  MPI_Comm comm_ = MPI_COMM_NULL;
};

class MpiCommunicator final : public Communicator {
 public:
  explicit MpiCommunicator(const CommunicatorOptions& options);

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  std::string backend() const override { return "mpi"; }

  WorkPtr allreduce(const Tensor& tensor, ReduceOp op, const CollectiveTag& tag) override;
  WorkPtr broadcast(const Tensor& tensor, int root, const CollectiveTag& tag) override;
  WorkPtr allgather(const Tensor& input, const Tensor& output, const CollectiveTag& tag) override;
  WorkPtr reduce_scatter(const Tensor& input, const Tensor& output, ReduceOp op, const CollectiveTag& tag) override;
  WorkPtr barrier(const CollectiveTag& tag) override;

  WorkPtr allreduce_raw(const RawBuffer& buffer, ReduceOp op, const CollectiveTag& tag) override;
  WorkPtr broadcast_raw(const RawBuffer& buffer, int root, const CollectiveTag& tag) override;
  WorkPtr allgather_raw(const RawBuffer& input, const RawBuffer& output, const CollectiveTag& tag) override;
  WorkPtr reduce_scatter_raw(const RawBuffer& input, const RawBuffer& output, ReduceOp op,
                             const CollectiveTag& tag) override;

 private:
  // The tensors behind raw buffers, when called with tensors: kept alive until the collective has run, and the
  // written one's version bumped after it. Device tensors run through pinned host staging: `read` and `written`
  // are then pinned host copies, filled by async copies on the caller's stream that `staged` follows (the
  // communication thread waits for it before MPI touches them); the result goes back to `device_result` by an
  // async copy queued on the stream of whoever waits for the Work, so the host never waits for the device in the
  // caller's thread.
  struct Owners {
    Tensor read, written, device_result;
    std::optional<Event> staged;
  };
  // Owners for a collective reading `input` and writing `output` (the same object for in-place collectives),
  // staged through pinned host memory when they live on a device; `name` labels errors.
  static Owners stage(const Tensor& input, const Tensor& output, const char* name);
  // Submits `body` (the MPI call) to the communication thread, between the staging and the results of `owners`.
  template <typename Body>
  WorkPtr run(const CollectiveCall& call, const Owners& owners, Body body);
  WorkPtr submit_allreduce(const RawBuffer& buffer, ReduceOp op, const CollectiveTag& tag, Owners owners);
  WorkPtr submit_broadcast(const RawBuffer& buffer, int root, const CollectiveTag& tag, Owners owners);
  WorkPtr submit_allgather(const RawBuffer& input, const RawBuffer& output, const CollectiveTag& tag, Owners owners);
  WorkPtr submit_reduce_scatter(const RawBuffer& input, const RawBuffer& output, ReduceOp op,
                                const CollectiveTag& tag, Owners owners);

  Watchdog watchdog_;  // first: it watches comm_'s MPI_Comm_dup
  DuplicateWorld comm_;
  int rank_ = 0;
  int size_ = 1;
  CommThread thread_;
};

}  // namespace tessera::dist::mpi
