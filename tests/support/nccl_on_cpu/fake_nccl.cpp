// NCCL over MPI for the nccl backend built over the CPU build of the CUDA backend (fake_nccl.h, README.md).
//
// Invariants:
//  - a collective is queued on its stream as lasting work (cuda_on_cpu/stream_queue.h): when something needs it (a
//    host wait or query, another stream waiting for an event after it) and the stream reaches it, the nonblocking
//    MPI call starts; the stream's later work waits until MPI_Test says it has completed, that is until every
//    rank's stream has reached the same collective, as NCCL's kernel waits on a GPU. Nothing blocks in MPI: a query
//    (the watchdog's) polls and returns, and a host wait lets other threads in between its polls;
//  - every rank queues the same collectives in the same order on one stream, so they meet in that order on the
//    communicator's own duplicate of MPI_COMM_WORLD (MPI_ERRORS_RETURN: a failure becomes the communicator's
//    asynchronous error, as a network error is for NCCL; TESSERA_NCCL_ON_CPU_FAIL makes one fail on purpose);
//  - a failure can also leave its collective running (":stuck"), as an NCCL kernel whose peer is gone spins until
//    ncclCommAbort: its stream stays busy until the communicator is released;
//  - ncclAvg on floats is sum then division here (NCCL scales each input first): equal for the exact values tests use.
#include "tests/support/nccl_on_cpu/fake_nccl.h"

#include <mpi.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <limits>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "core/dtype.h"
#include "distributed/mpi/mpi_types.h"
#include "tests/support/cuda_on_cpu/runtime_table.h"

namespace tessera::fake_nccl {

namespace {

constexpr char kIdMark[] = "tessera nccl_on_cpu";

// Alive while its handle is (until ncclCommDestroy or ncclCommAbort) or any of its collectives is queued: an aborted
// communicator's queued work still runs later (a destroyed stream's work does), and then does nothing.
struct Comm : std::enable_shared_from_this<Comm> {
  MPI_Comm mpi = MPI_COMM_NULL;
  int rank = 0, size = 1;
  uint64_t queued = 0;   // collectives queued so far
  uint64_t fail_at = 0;  // the collective (1-based) that fails instead of running (TESSERA_NCCL_ON_CPU_FAIL); 0: none
  bool fail_stuck = false;  // that collective then stays running until the communicator is released
  std::atomic<ncclResult_t> async_error{ncclSuccess};
  std::atomic<bool> released{false};  // its handle is gone: queued collectives run nothing
  std::shared_ptr<Comm> handle;       // the reference the ncclComm_t stands for
  ~Comm() {
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (!finalized && mpi != MPI_COMM_NULL) MPI_Comm_free(&mpi);
  }
};

// The last failure's text, for ncclGetLastError (which NCCL keeps per process, whatever communicator failed).
std::mutex g_last_error_mutex;
std::string g_last_error;
void set_last_error(const std::string& text) {
  std::lock_guard lock(g_last_error_mutex);
  g_last_error = text;
}

// TESSERA_NCCL_ON_CPU_FAIL=RANK:N[:stuck]: on world rank RANK, the N-th collective fails as a network error would,
// for the tests of how a job ends then (tests/launch/ddp_nccl_error.sh); with ":stuck" it also stays running.
void inject_failure(Comm& comm) {
  const char* value = std::getenv("TESSERA_NCCL_ON_CPU_FAIL");
  int failing_rank = -1;
  unsigned long long n = 0;
  char mode[8] = {};
  if (value == nullptr || std::sscanf(value, "%d:%llu:%7s", &failing_rank, &n, mode) < 2) return;
  if (failing_rank != comm.rank) return;
  comm.fail_at = n;
  comm.fail_stuck = std::string(mode) == "stuck";
}

std::function<void()> g_abort_hook;  // set_abort_hook's

Comm* of(ncclComm_t comm) { return reinterpret_cast<Comm*>(comm); }

bool dtype_of(ncclDataType_t type, DType* dtype) {
  switch (type) {
    case ncclFloat32: *dtype = DType::f32; return true;
    case ncclFloat64: *dtype = DType::f64; return true;
    case ncclBfloat16: *dtype = DType::bf16; return true;
    case ncclFloat16: *dtype = DType::f16; return true;
    case ncclInt32: *dtype = DType::i32; return true;
    case ncclInt64: *dtype = DType::i64; return true;
    default: return false;
  }
}

bool reduce_op_of(ncclRedOp_t op, dist::ReduceOp* reduce) {
  switch (op) {
    case ncclSum: *reduce = dist::ReduceOp::sum; return true;
    case ncclAvg: *reduce = dist::ReduceOp::avg; return true;
    case ncclMax: *reduce = dist::ReduceOp::max; return true;
    case ncclMin: *reduce = dist::ReduceOp::min; return true;
    default: return false;
  }
}

// NCCL takes size_t counts; MPI's are int.
bool fits_int(size_t count) { return count <= static_cast<size_t>(std::numeric_limits<int>::max()); }

void fail(Comm& comm, const std::string& text) {
  set_last_error(text);
  comm.async_error.store(ncclSystemError);
}
void fail_in_mpi(Comm& comm, int code) {
  char text[MPI_MAX_ERROR_STRING] = {};
  int length = 0;
  MPI_Error_string(code, text, &length);
  fail(comm, std::string("MPI: ") + text);
}

// One collective: `start` makes the nonblocking MPI call; `then` runs once it has completed (ncclAvg's division).
struct Collective {
  std::function<int(MPI_Request*)> start;
  std::function<void()> then;
};

// Queues `collective` on `stream` as lasting work: it starts when the stream reaches it, and the stream's later work
// waits until MPI says it has completed, polled by whatever forces the stream (a query never blocks). An MPI failure
// becomes the communicator's asynchronous error.
ncclResult_t enqueue(Comm* comm, cudaStream_t stream, Collective collective) {
  struct State {
    std::shared_ptr<Comm> comm;
    Collective collective;
    bool fails;
    bool stuck = false;                      // failed, and running until the communicator is released
    MPI_Request request = MPI_REQUEST_NULL;  // MPI_REQUEST_NULL while not running (not started, failed, done)
  };
  auto state = std::make_shared<State>(
      State{comm->shared_from_this(), std::move(collective), ++comm->queued == comm->fail_at});
  auto start = [state] {
    Comm& c = *state->comm;
    // A failed or released communicator runs nothing more.
    if (c.released.load() || c.async_error.load() != ncclSuccess) return;
    if (state->fails) {
      state->stuck = c.fail_stuck;
      return fail(c, "nccl_on_cpu: collective " + std::to_string(c.fail_at) +
                         " fails on purpose (TESSERA_NCCL_ON_CPU_FAIL)");
    }
    const int code = state->collective.start(&state->request);
    if (code == MPI_SUCCESS) return;
    state->request = MPI_REQUEST_NULL;  // whatever a failed call left there
    fail_in_mpi(c, code);
  };
  // A released communicator's collective is abandoned, as an aborted NCCL communicator's kernels are. MPI may still
  // use its buffers (the communicator, reduce_scatter's input copy): they are kept, never freed, as the job ends.
  auto finished = [state] {
    if (state->stuck) return state->comm->released.load();
    if (state->request == MPI_REQUEST_NULL) return true;
    if (state->comm->released.load()) {
      static auto* abandoned = new std::vector<std::shared_ptr<State>>();  // guarded by the runtime's queue lock
      abandoned->push_back(state);
      return true;
    }
    int done = 0;
    const int code = MPI_Test(&state->request, &done, MPI_STATUS_IGNORE);
    if (code != MPI_SUCCESS) {
      fail_in_mpi(*state->comm, code);
      return true;
    }
    if (done && state->collective.then) state->collective.then();
    return done != 0;
  };
  const cudaError_t status = tessera_cuda_on_cpu_runtime()->enqueue_lasting(stream, start, finished);
  return status == cudaSuccess ? ncclSuccess : ncclUnhandledCudaError;
}

// ncclAvg over MPI: the sum, then a division of the result.
std::function<void()> averaging(dist::ReduceOp reduce, void* result, size_t count, DType dtype, const Comm* comm) {
  if (reduce != dist::ReduceOp::avg) return {};
  return [=] { dist::mpi::divide_in_place(result, static_cast<int64_t>(count), dtype, comm->size); };
}

int element_bytes(DType dtype) { return static_cast<int>(element_size(dtype)); }

}  // namespace

ncclResult_t ncclGetVersion(int* version) {
  *version = NCCL_VERSION_CODE;
  return ncclSuccess;
}

ncclResult_t ncclGetUniqueId(ncclUniqueId* id) {
  *id = ncclUniqueId{};
  std::memcpy(id->internal, kIdMark, sizeof kIdMark);
  return ncclSuccess;
}

ncclResult_t ncclCommInitRank(ncclComm_t* comm, int nranks, ncclUniqueId id, int rank) {
  int size = 0, my_rank = 0;
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  MPI_Comm_rank(MPI_COMM_WORLD, &my_rank);
  if (std::memcmp(id.internal, kIdMark, sizeof kIdMark) != 0 || nranks != size || rank != my_rank)
    return ncclInvalidArgument;
  auto made = std::make_shared<Comm>();
  made->rank = rank, made->size = nranks;
  inject_failure(*made);
  if (MPI_Comm_dup(MPI_COMM_WORLD, &made->mpi) != MPI_SUCCESS) return ncclSystemError;
  MPI_Comm_set_errhandler(made->mpi, MPI_ERRORS_RETURN);
  made->handle = made;
  *comm = reinterpret_cast<ncclComm_t>(made.get());
  return ncclSuccess;
}

ncclResult_t ncclCommDestroy(ncclComm_t comm) {
  Comm* c = of(comm);
  c->released.store(true);
  c->handle.reset();  // the last reference: freed now, or by the last of its queued collectives
  return ncclSuccess;
}
ncclResult_t ncclCommAbort(ncclComm_t comm) {
  if (g_abort_hook) std::exchange(g_abort_hook, nullptr)();
  return fake_nccl::ncclCommDestroy(comm);
}

void set_abort_hook(std::function<void()> hook) { g_abort_hook = std::move(hook); }

ncclResult_t ncclCommGetAsyncError(ncclComm_t comm, ncclResult_t* async_error) {
  *async_error = of(comm)->async_error.load();
  return ncclSuccess;
}

const char* ncclGetErrorString(ncclResult_t result) {
  switch (result) {
    case ncclSuccess: return "no error";
    case ncclUnhandledCudaError: return "unhandled cuda error";
    case ncclSystemError: return "unhandled system error";
    case ncclInvalidArgument: return "invalid argument";
    default: return "error";
  }
}

const char* ncclGetLastError(ncclComm_t) {
  std::lock_guard lock(g_last_error_mutex);
  return g_last_error.c_str();  // set once per failure, before the error is visible; never cleared
}

ncclResult_t ncclAllReduce(const void* send, void* recv, size_t count, ncclDataType_t type, ncclRedOp_t op,
                           ncclComm_t comm, cudaStream_t stream) {
  DType dtype;
  dist::ReduceOp reduce;
  if (!dtype_of(type, &dtype) || !reduce_op_of(op, &reduce) || !fits_int(count)) return ncclInvalidArgument;
  Comm* c = of(comm);
  const auto start = [=](MPI_Request* request) {
    const void* from = send == recv ? MPI_IN_PLACE : send;
    return MPI_Iallreduce(from, recv, static_cast<int>(count), dist::mpi::datatype(dtype),
                          dist::mpi::reduce_op(reduce, dtype), c->mpi, request);
  };
  return enqueue(c, stream, {start, averaging(reduce, recv, count, dtype, c)});
}

ncclResult_t ncclBroadcast(const void* send, void* recv, size_t count, ncclDataType_t type, int root,
                           ncclComm_t comm, cudaStream_t stream) {
  DType dtype;
  if (!dtype_of(type, &dtype) || !fits_int(count)) return ncclInvalidArgument;
  Comm* c = of(comm);
  return enqueue(c, stream, {[=](MPI_Request* request) {
                   if (c->rank == root && send != recv) std::memmove(recv, send, count * element_bytes(dtype));
                   return MPI_Ibcast(recv, static_cast<int>(count), dist::mpi::datatype(dtype), root, c->mpi,
                                     request);
                 }});
}

ncclResult_t ncclAllGather(const void* send, void* recv, size_t send_count, ncclDataType_t type, ncclComm_t comm,
                           cudaStream_t stream) {
  DType dtype;
  if (!dtype_of(type, &dtype) || !fits_int(send_count * of(comm)->size)) return ncclInvalidArgument;
  Comm* c = of(comm);
  return enqueue(c, stream, {[=](MPI_Request* request) {
                   const MPI_Datatype datatype = dist::mpi::datatype(dtype);
                   const auto* in_place = static_cast<const char*>(recv) + c->rank * send_count * element_bytes(dtype);
                   const void* from = send == in_place ? MPI_IN_PLACE : send;
                   return MPI_Iallgather(from, static_cast<int>(send_count), datatype, recv,
                                         static_cast<int>(send_count), datatype, c->mpi, request);
                 }});
}

ncclResult_t ncclReduceScatter(const void* send, void* recv, size_t recv_count, ncclDataType_t type,
                               ncclRedOp_t op, ncclComm_t comm, cudaStream_t stream) {
  DType dtype;
  dist::ReduceOp reduce;
  if (!dtype_of(type, &dtype) || !reduce_op_of(op, &reduce) || !fits_int(recv_count * of(comm)->size))
    return ncclInvalidArgument;
  Comm* c = of(comm);
  // NCCL's in-place layout (recv inside send) is read whole, when the stream reaches it, before any of it is written.
  auto input = std::make_shared<std::vector<char>>();
  const auto start = [=](MPI_Request* request) {
    const auto* from = static_cast<const char*>(send);
    input->assign(from, from + recv_count * c->size * element_bytes(dtype));
    return MPI_Ireduce_scatter_block(input->data(), recv, static_cast<int>(recv_count), dist::mpi::datatype(dtype),
                                     dist::mpi::reduce_op(reduce, dtype), c->mpi, request);
  };
  return enqueue(c, stream, {start, averaging(reduce, recv, recv_count, dtype, c)});
}

}  // namespace tessera::fake_nccl
