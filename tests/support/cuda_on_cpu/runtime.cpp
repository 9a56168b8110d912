// The CUDA runtime calls kernels/cuda makes, over host memory, for the CUDA backend compiled for the CPU. Work
// queued on a stream (copies, memsets, kernels) waits in the stream's queue until something needs it
// (stream_queue.h): a host wait, an event another stream waits for, a copy to pageable memory, cudaFree. So the
// backend's own ordering runs as on a GPU that runs everything at the last moment: its events between streams, its
// waits before reusing pinned blocks, its per-stream reuse of cached device blocks. A stream being captured records
// the work instead, and a graph launch queues the record.
//
// Invariants:
//  - "device" memory is host memory from aligned_alloc (page-aligned, as a GPU's segments are), counted against a
//    device of kDeviceBytes so cudaMemGetInfo and the allocator's out-of-memory path see sizes; pinned memory
//    (cudaHostAlloc) is known too, since copies from and to pageable memory behave differently (see cudaMemcpyAsync);
//  - the legacy default stream (0, cudaStreamLegacy) runs its work at once, after the work of blocking streams only:
//    the backend's non-blocking streams never wait for it, nor it for them;
//  - errors follow the runtime: a failing call returns its code and leaves it as the thread's last error, which
//    cudaGetLastError returns once and clears;
//  - the library is linked with every symbol local except its factory (CMakeLists.txt), so these definitions never
//    stand in for the real libcudart that the rest of a test program links.
#include <cuda_runtime.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "tests/support/cuda_on_cpu/block_scheduler.h"
#include "tests/support/cuda_on_cpu/cuda_on_cpu.h"
#include "kernels/cuda/stream.h"
#include "tests/support/cuda_on_cpu/runtime.h"
#include "tests/support/cuda_on_cpu/runtime_table.h"
#include "tests/support/cuda_on_cpu/stream_queue.h"
#include "tests/support/fake_cuda_error_names.h"

using tessera::cuda_on_cpu::Finished;
using tessera::cuda_on_cpu::queue_lock;
using tessera::cuda_on_cpu::QueueLock;
using tessera::cuda_on_cpu::StreamQueue;
using tessera::cuda_on_cpu::wait_until;
using tessera::cuda_on_cpu::Work;
using Clock = std::chrono::steady_clock;

struct CUstream_st {
  std::shared_ptr<StreamQueue> queue;    // shared with events recorded on it, which may outlive the stream
  std::vector<Work>* capture = nullptr;  // the graph being captured on this stream, if any
  uint64_t capture_id = 0;               // which capture (events recorded into it name it)
  bool invalidated = false;              // a call refused during the capture: its end fails, as on a GPU
};
struct CUevent_st {
  std::shared_ptr<Clock::time_point> time = std::make_shared<Clock::time_point>();  // set when the record runs
  bool timing = true;
  std::shared_ptr<StreamQueue> queue;  // where its last eager record waits (null: passed at once, or captured)
  uint64_t position = 0;
  uint64_t capture_id = 0;  // last recorded into this capture: the host may not query or wait for it
};
struct CUgraph_st {
  std::vector<Work> work;
};
struct CUgraphExec_st {
  std::shared_ptr<const std::vector<Work>> work;  // shared with its queued launches, which may outlive it
};

namespace {

constexpr size_t kDeviceBytes = size_t{16} << 30;
// cudaMalloc promises 256 bytes; a GPU's segments are in fact aligned to pages of its address space, and the
// caching allocator's tests rely on blocks carved at 512-byte steps from a segment staying 512-byte aligned.
constexpr size_t kDeviceAlignment = 4096;

thread_local cudaError_t g_last_error = cudaSuccess;

// What the backend asks of the device, counted when it asks (at the launch, call or capture, as a GPU's queue sees
// it; not when the work runs here): tests prove a training step free of hidden host waits and allocations, and
// benchmarks/gpu/work_per_step reports the kernels a step launches (cuda_on_cpu.h: DeviceWorkCounts).
// A host wait counts only when it finds queued work: a wait for work already done costs a GPU next to nothing.
struct Counters {
#define TESSERA_ATOMIC_COUNT(name) std::atomic<uint64_t> name{0};
  TESSERA_DEVICE_WORK_COUNTS(TESSERA_ATOMIC_COUNT)
#undef TESSERA_ATOMIC_COUNT
  std::mutex by_name_mutex;
  // By the launch's name literal, so a launch adds no string; merged by text when read (two translation units may
  // hold the same name at two addresses).
  std::map<const char*, uint64_t> kernels_by_name;
};
Counters& counters() {
  static Counters* c = new Counters();
  return *c;
}
void tally(std::atomic<uint64_t>& counter, uint64_t n = 1) { counter.fetch_add(n, std::memory_order_relaxed); }
void count_wait(bool finds_queued_work) {
  if (finds_queued_work) tally(counters().host_waits);
}

struct Memory {
  std::mutex mutex;
  std::map<const char*, size_t> blocks, pinned;  // by start address
  size_t in_use = 0;
};
Memory& memory() {
  static Memory* m = new Memory();  // never destroyed: blocks may be freed after static destruction began
  return *m;
}

cudaError_t fail(cudaError_t error) {
  g_last_error = error;
  return error;
}

// The default streams (0, cudaStreamLegacy, cudaStreamPerThread) are never captured.
bool is_default(cudaStream_t s) {
  return s == nullptr || s == cudaStreamLegacy || s == cudaStreamPerThread;
}

bool capturing(cudaStream_t s) { return !is_default(s) && s->capture != nullptr; }

// The default streams run work at once; the legacy one first waits for the blocking streams (the per-thread one
// waits for nothing here, which is one order a GPU may take).
void run_default_stream_prefix(cudaStream_t s) {
  if (s != cudaStreamPerThread) tessera::cuda_on_cpu::wait_for_blocking_queues();
}

cudaError_t enqueue_work(cudaStream_t s, Work work) {
  std::lock_guard<QueueLock> lock(queue_lock());
  if (capturing(s)) {
    s->capture->push_back(std::move(work));
  } else if (is_default(s)) {
    run_default_stream_prefix(s);
    work();
  } else {
    s->queue->push(std::move(work));
  }
  return cudaSuccess;
}

// Lasting work (stream_queue.h). A default stream, or a capture replayed later, cannot hold it: there it is waited
// for at once, or at the replay, as the whole of one item.
cudaError_t enqueue_lasting(cudaStream_t s, Work start, Finished finished) {
  std::lock_guard<QueueLock> lock(queue_lock());
  if (!capturing(s) && !is_default(s)) {
    s->queue->push_lasting(std::move(start), std::move(finished));
    return cudaSuccess;
  }
  return enqueue_work(s, [start = std::move(start), finished = std::move(finished)] {
    if (start) start();
    wait_until(finished);
  });
}

// What a host wait returns once queued work has failed (stream_queue.h: work_failure).
cudaError_t wait_status() {
  return tessera::cuda_on_cpu::work_failure().empty() ? cudaSuccess : fail(cudaErrorLaunchFailure);
}

// Every stream's work has run (cudaDeviceSynchronize, and cudaFree and cudaFreeHost before they free).
void run_device() {
  count_wait(!tessera::cuda_on_cpu::every_queue_idle());
  tessera::cuda_on_cpu::wait_for_every_queue();
}

// Everything queued on s so far has run, and then `then` (a host wait on the stream). Called without the queue
// lock held, so that other threads' calls go on while lasting work waits (stream_queue.h); `then` is queued behind
// that work, so work that they queue meanwhile on s runs after it.
void run_stream(cudaStream_t s, Work then = {}) {
  std::shared_ptr<StreamQueue> queue;
  uint64_t position = 0;
  {
    std::lock_guard<QueueLock> lock(queue_lock());
    if (is_default(s)) {
      run_default_stream_prefix(s);
      if (then) then();
      return;
    }
    count_wait(!s->queue->idle());
    queue = s->queue;
    position = then ? queue->push(std::move(then)) : queue->queued();
  }
  queue->wait_through(position);
}

bool event_passed(cudaEvent_t event) { return !event->queue || event->queue->passed(event->position); }
// A host wait for an event (called without the queue lock held, as run_stream is).
void wait_for_event(cudaEvent_t event) {
  std::shared_ptr<StreamQueue> queue;
  uint64_t position = 0;
  {
    std::lock_guard<QueueLock> lock(queue_lock());
    queue = event->queue, position = event->position;
  }
  if (queue) queue->wait_through(position);
}

bool within(const std::map<const char*, size_t>& ranges, const void* ptr) {
  const auto* at = static_cast<const char*>(ptr);
  auto it = ranges.upper_bound(at);
  if (it == ranges.begin()) return false;
  --it;
  return at < it->first + it->second;
}
// Where a copy's end lies: the runtime copies from and to pageable memory differently (see cudaMemcpyAsync).
enum class Place { device, pinned, pageable };
Place place_of(const void* ptr) {
  Memory& m = memory();
  std::lock_guard<std::mutex> lock(m.mutex);
  if (within(m.blocks, ptr)) return Place::device;
  return within(m.pinned, ptr) ? Place::pinned : Place::pageable;
}

// A host wait or query that a capture cannot hold: refused, and the capture is invalid from then on.
cudaError_t refuse_in_capture(cudaStream_t s) {
  s->invalidated = true;
  return fail(cudaErrorStreamCaptureUnsupported);
}

// Captures are numbered: an event names the one it was last recorded into (0: none).
struct Captures {
  std::mutex mutex;
  uint64_t next = 1;
  std::map<uint64_t, cudaStream_t> ongoing;  // captures not ended yet, by id: the stream each began on
};
Captures& captures() {
  static Captures* c = new Captures();
  return *c;
}
// The stream on which capture `id` began, while it lasts (null once ended, and for 0: no capture).
cudaStream_t ongoing_capture(uint64_t id) {
  Captures& c = captures();
  std::lock_guard<std::mutex> lock(c.mutex);
  const auto it = c.ongoing.find(id);
  return it == c.ongoing.end() ? nullptr : it->second;
}
// A device-wide call refused while captures last (cudaDeviceSynchronize): as on a GPU, every one of them is invalid
// from then on, and its end fails.
void invalidate_ongoing_captures() {
  std::lock_guard<QueueLock> lock(queue_lock());
  Captures& c = captures();
  std::lock_guard<std::mutex> captures_lock(c.mutex);
  for (const auto& [id, origin] : c.ongoing) origin->invalidated = true;
}
void end_ongoing_capture(uint64_t id) {
  Captures& c = captures();
  std::lock_guard<std::mutex> lock(c.mutex);
  c.ongoing.erase(id);
}
// An event last recorded into a capture, whether or not the capture still lasts: CUDA refuses to query or wait on
// it from the host until it is recorded again outside one (cudaErrorCapturedEvent).
bool recorded_in_capture(cudaEvent_t event) { return event->capture_id != 0; }

// Streams capturing now (any thread): a device-wide synchronisation is refused meanwhile, as on a GPU.
std::atomic<int> g_capturing_streams{0};
bool any_stream_capturing() { return g_capturing_streams.load() > 0; }

}  // namespace

namespace tessera::cuda_on_cpu {

void enqueue_library_calls(cudaStream_t stream, int calls, std::function<void()> work) {
  tally(counters().library_calls, calls);
  enqueue_work(stream, std::move(work));
}

void launch(const char* name, dim3 grid, dim3 block, size_t shared_bytes, cudaStream_t stream,
            std::function<void()> body) {
  const unsigned long long threads = 1ull * block.x * block.y * block.z;
  const bool valid = grid.x >= 1 && grid.y >= 1 && grid.z >= 1 && grid.x <= 0x7fffffffu && grid.y <= 65535 &&
                     grid.z <= 65535 && threads >= 1 && threads <= 1024 && block.z <= 64 &&
                     shared_bytes <= 48 * 1024;  // dynamic shared memory beyond 48 KiB needs an opt-in
  if (!valid) {
    fail(cudaErrorInvalidConfiguration);
    return;
  }
  Counters& c = counters();
  tally(c.kernels);
  {
    std::lock_guard<std::mutex> lock(c.by_name_mutex);
    ++c.kernels_by_name[name];
  }
  enqueue_work(stream,
               [grid, block, shared_bytes, body = std::move(body)] { run_grid(grid, block, shared_bytes, body); });
}

}  // namespace tessera::cuda_on_cpu

extern "C" {

cudaError_t cudaGetLastError() {
  const cudaError_t error = g_last_error;
  g_last_error = cudaSuccess;
  return error;
}

const char* cudaGetErrorName(cudaError_t error) { return tessera::testing::fake_cuda_error_name(error); }
const char* cudaGetErrorString(cudaError_t error) { return cudaGetErrorName(error); }

cudaError_t cudaGetDeviceCount(int* count) {
  *count = 1;
  return cudaSuccess;
}
cudaError_t cudaGetDevice(int* device) {
  *device = 0;
  return cudaSuccess;
}
cudaError_t cudaSetDevice(int device) { return device == 0 ? cudaSuccess : fail(cudaErrorInvalidDevice); }
cudaError_t cudaDeviceSynchronize() {
  // CUDA: synchronising a device while any of its streams captures is invalid, and invalidates those captures.
  if (any_stream_capturing()) {
    invalidate_ongoing_captures();
    return fail(cudaErrorStreamCaptureUnsupported);
  }
  run_device();
  return wait_status();
}

cudaError_t cudaMalloc(void** ptr, size_t size) {
  Memory& m = memory();
  std::lock_guard<std::mutex> lock(m.mutex);
  const size_t rounded = std::max<size_t>(1, (size + kDeviceAlignment - 1) / kDeviceAlignment) * kDeviceAlignment;
  if (m.in_use + rounded > kDeviceBytes) return fail(cudaErrorMemoryAllocation);
  *ptr = std::aligned_alloc(kDeviceAlignment, rounded);
  if (*ptr == nullptr) return fail(cudaErrorMemoryAllocation);
  tally(counters().device_allocations);
  m.blocks[static_cast<const char*>(*ptr)] = rounded;
  m.in_use += rounded;
  return cudaSuccess;
}
// cudaFree and cudaFreeHost synchronise the device first, as on a GPU: queued work may still use the memory.
cudaError_t cudaFree(void* ptr) {
  if (ptr == nullptr) return cudaSuccess;
  run_device();
  Memory& m = memory();
  std::lock_guard<std::mutex> lock(m.mutex);
  auto it = m.blocks.find(static_cast<const char*>(ptr));
  if (it == m.blocks.end()) return fail(cudaErrorInvalidValue);
  m.in_use -= it->second;
  m.blocks.erase(it);
  std::free(ptr);
  return cudaSuccess;
}
cudaError_t cudaMemGetInfo(size_t* free, size_t* total) {
  Memory& m = memory();
  std::lock_guard<std::mutex> lock(m.mutex);
  *free = kDeviceBytes - m.in_use;
  *total = kDeviceBytes;
  return cudaSuccess;
}
cudaError_t cudaHostAlloc(void** ptr, size_t size, unsigned int) {
  const size_t rounded = (size + 255) / 256 * 256 + 256;
  *ptr = std::aligned_alloc(256, rounded);
  if (*ptr == nullptr) return fail(cudaErrorMemoryAllocation);
  Memory& m = memory();
  std::lock_guard<std::mutex> lock(m.mutex);
  m.pinned[static_cast<const char*>(*ptr)] = rounded;
  return cudaSuccess;
}
cudaError_t cudaFreeHost(void* ptr) {
  if (ptr == nullptr) return cudaSuccess;
  run_device();
  Memory& m = memory();
  std::lock_guard<std::mutex> lock(m.mutex);
  if (m.pinned.erase(static_cast<const char*>(ptr)) == 0) return fail(cudaErrorInvalidValue);
  std::free(ptr);
  return cudaSuccess;
}

// As the runtime does it: from pageable memory, the source is read into staging memory before the call returns;
// into pageable memory, or from host to host, the call returns once the copy (and so the stream's earlier work) is
// done. Pinned and device memory are otherwise read and written when the copy runs.
cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t count, cudaMemcpyKind, cudaStream_t stream) {
  tally(counters().copies);
  const Place from = place_of(src), to = place_of(dst);
  {
    std::lock_guard<QueueLock> lock(queue_lock());
    if (from == Place::pageable && to == Place::device && !capturing(stream)) tally(counters().pageable_uploads);
    if (capturing(stream) || (to != Place::pageable && (from == Place::device || to == Place::device))) {
      if (capturing(stream) || from != Place::pageable)
        return enqueue_work(stream, [=] { std::memmove(dst, src, count); });
      auto staged = std::make_shared<std::vector<char>>(static_cast<const char*>(src),
                                                        static_cast<const char*>(src) + count);
      return enqueue_work(stream, [dst, staged] { std::memcpy(dst, staged->data(), staged->size()); });
    }
  }
  run_stream(stream, [=] { std::memmove(dst, src, count); });
  return wait_status();
}
cudaError_t cudaMemsetAsync(void* dst, int value, size_t count, cudaStream_t stream) {
  tally(counters().memsets);
  return enqueue_work(stream, [=] { std::memset(dst, value, count); });
}
// On the legacy default stream: after the blocking streams' work, never after the non-blocking streams' work.
cudaError_t cudaMemcpy(void* dst, const void* src, size_t count, cudaMemcpyKind) {
  tally(counters().copies);
  return enqueue_work(cudaStreamLegacy, [=] { std::memmove(dst, src, count); });
}
cudaError_t cudaMemset(void* dst, int value, size_t count) {
  tally(counters().memsets);
  return enqueue_work(cudaStreamLegacy, [=] { std::memset(dst, value, count); });
}

// What a pointer is: device memory (cudaMalloc, on device 0), pinned host memory (cudaHostAlloc), or neither.
cudaError_t cudaPointerGetAttributes(cudaPointerAttributes* attributes, const void* ptr) {
  *attributes = cudaPointerAttributes{};
  const Place place = place_of(ptr);
  attributes->type = place == Place::device   ? cudaMemoryTypeDevice
                     : place == Place::pinned ? cudaMemoryTypeHost
                                              : cudaMemoryTypeUnregistered;
  attributes->device = place == Place::pageable ? -1 : 0;
  attributes->devicePointer = place == Place::device ? const_cast<void*>(ptr) : nullptr;
  attributes->hostPointer = place == Place::device ? nullptr : const_cast<void*>(ptr);
  return cudaSuccess;
}

cudaError_t cudaStreamCreateWithFlags(cudaStream_t* stream, unsigned int flags) {
  *stream = new CUstream_st();
  (*stream)->queue = StreamQueue::create((flags & cudaStreamNonBlocking) == 0);
  return cudaSuccess;
}
// On a GPU the stream's queued work still completes after the destroy returns: so it does here, later.
cudaError_t cudaStreamDestroy(cudaStream_t stream) {
  if (is_default(stream)) return fail(cudaErrorInvalidValue);
  std::lock_guard<QueueLock> lock(queue_lock());
  StreamQueue::detach(stream->queue);
  if (stream->capture != nullptr) {
    --g_capturing_streams;
    end_ongoing_capture(stream->capture_id);
  }
  delete stream->capture;
  delete stream;
  return cudaSuccess;
}
// A host wait on a stream being captured invalidates the capture on a GPU: refuse it the same way.
cudaError_t cudaStreamSynchronize(cudaStream_t stream) {
  {
    std::lock_guard<QueueLock> lock(queue_lock());
    if (capturing(stream)) return refuse_in_capture(stream);
  }
  run_stream(stream);
  return wait_status();
}
// Queries, of streams and of events, say "not ready" while work is queued, and then run what can run now (lasting
// work is started and polled, never waited for): a host that polls sees its waiting path taken, and a later poll
// finds the work done (a GPU makes progress too).
cudaError_t cudaStreamQuery(cudaStream_t stream) {
  std::lock_guard<QueueLock> lock(queue_lock());
  if (capturing(stream)) return refuse_in_capture(stream);
  if (is_default(stream) || stream->queue->idle()) return cudaSuccess;
  stream->queue->advance_all();
  return fail(cudaErrorNotReady);
}
// Waiting for an event recorded eagerly on another stream: the waiter's later work runs after the event's. A
// capturing stream cannot hold that dependency (this runtime's captures do not join other streams), so the event's
// work runs now, before any replay.
cudaError_t cudaStreamWaitEvent(cudaStream_t stream, cudaEvent_t event, unsigned int) {
  {
    std::lock_guard<QueueLock> lock(queue_lock());
    // As CUDA: a capture may wait only for events recorded into it (else cudaErrorStreamCaptureIsolation, and the
    // capture is invalidated), whether or not the event has passed.
    if (capturing(stream) && event->capture_id != stream->capture_id) {
      stream->invalidated = true;
      return fail(cudaErrorStreamCaptureIsolation);
    }
    // A stream outside the capture that waits for an event recorded into it, while the capture lasts, joins the
    // capture on a GPU (a fork): its later work is captured instead of run, and cudaStreamEndCapture fails
    // (cudaErrorStreamCaptureUnjoined) unless the captured stream waits for it again. This runtime cannot join a
    // stream into a capture, and running the stream's work at once instead (as it did) passes code whose fork is
    // never joined, or whose forked work the replays never run. Refused, and the capture's end fails with it.
    if (!capturing(stream) && event->capture_id != 0) {
      if (cudaStream_t origin = ongoing_capture(event->capture_id)) {
        origin->invalidated = true;
        std::fprintf(stderr,
                     "cuda_on_cpu: a stream waits for an event recorded into a capture that is still going on (a "
                     "fork into the capture, which this runtime does not emulate): refused, and the capture fails\n");
        return fail(cudaErrorStreamCaptureUnsupported);
      }
    }
    if (event_passed(event)) return cudaSuccess;
    if (!is_default(stream) && !capturing(stream)) {
      return enqueue_lasting(stream, {}, [queue = event->queue, position = event->position] {
        return queue->advance(position);
      });
    }
  }
  wait_for_event(event);
  return cudaSuccess;
}

cudaError_t cudaEventCreate(cudaEvent_t* event) {
  *event = new CUevent_st();
  tally(counters().events_created);
  return cudaSuccess;
}
cudaError_t cudaEventCreateWithFlags(cudaEvent_t* event, unsigned int flags) {
  *event = new CUevent_st();
  tally(counters().events_created);
  (*event)->timing = (flags & cudaEventDisableTiming) == 0;
  return cudaSuccess;
}
cudaError_t cudaEventDestroy(cudaEvent_t event) {
  std::lock_guard<QueueLock> lock(queue_lock());
  delete event;  // a record still queued keeps its own handle on the time it sets
  return cudaSuccess;
}
cudaError_t cudaEventRecord(cudaEvent_t event, cudaStream_t stream) {
  std::lock_guard<QueueLock> lock(queue_lock());
  event->time = std::make_shared<Clock::time_point>();
  Work mark = [time = event->time] { *time = Clock::now(); };
  event->capture_id = capturing(stream) ? stream->capture_id : 0;
  event->queue.reset();
  if (capturing(stream) || is_default(stream)) return enqueue_work(stream, std::move(mark));
  event->queue = stream->queue;
  event->position = stream->queue->push(std::move(mark));
  return cudaSuccess;
}
cudaError_t cudaEventQuery(cudaEvent_t event) {
  std::lock_guard<QueueLock> lock(queue_lock());
  if (recorded_in_capture(event)) return fail(cudaErrorCapturedEvent);
  if (event_passed(event)) return cudaSuccess;
  event->queue->advance(event->position);
  return fail(cudaErrorNotReady);
}
cudaError_t cudaEventSynchronize(cudaEvent_t event) {
  {
    std::lock_guard<QueueLock> lock(queue_lock());
    if (recorded_in_capture(event)) return fail(cudaErrorCapturedEvent);
    count_wait(!event_passed(event));
  }
  wait_for_event(event);
  return wait_status();
}
cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t start, cudaEvent_t end) {
  std::lock_guard<QueueLock> lock(queue_lock());
  if (!start->timing || !end->timing) return fail(cudaErrorInvalidResourceHandle);  // made with DisableTiming
  if (!event_passed(start) || !event_passed(end)) return fail(cudaErrorNotReady);
  *ms = std::chrono::duration<float, std::milli>(*end->time - *start->time).count();
  return cudaSuccess;
}

cudaError_t cudaStreamBeginCapture(cudaStream_t stream, cudaStreamCaptureMode) {
  std::lock_guard<QueueLock> lock(queue_lock());
  if (is_default(stream)) return fail(cudaErrorStreamCaptureUnsupported);
  if (stream->capture != nullptr) return fail(cudaErrorIllegalState);
  stream->capture = new std::vector<Work>();
  ++g_capturing_streams;
  Captures& c = captures();
  std::lock_guard<std::mutex> captures_lock(c.mutex);
  stream->capture_id = c.next++;
  c.ongoing[stream->capture_id] = stream;
  return cudaSuccess;
}
cudaError_t cudaStreamIsCapturing(cudaStream_t stream, cudaStreamCaptureStatus* status) {
  *status = capturing(stream) ? cudaStreamCaptureStatusActive : cudaStreamCaptureStatusNone;
  return cudaSuccess;
}
// This runtime's captures never fork onto other streams: only the captured stream itself reports one.
cudaError_t cudaStreamGetCaptureInfo(cudaStream_t stream, cudaStreamCaptureStatus* status, unsigned long long* id,
                                     cudaGraph_t*, const cudaGraphNode_t**, const cudaGraphEdgeData**, size_t*) {
  std::lock_guard<QueueLock> lock(queue_lock());
  *status = capturing(stream) ? cudaStreamCaptureStatusActive : cudaStreamCaptureStatusNone;
  if (id) *id = capturing(stream) ? stream->capture_id : 0;
  return cudaSuccess;
}
cudaError_t cudaStreamEndCapture(cudaStream_t stream, cudaGraph_t* graph) {
  std::lock_guard<QueueLock> lock(queue_lock());
  if (!capturing(stream)) return fail(cudaErrorIllegalState);
  *graph = stream->invalidated ? nullptr : new CUgraph_st{std::move(*stream->capture)};
  delete stream->capture;
  stream->capture = nullptr;
  --g_capturing_streams;
  end_ongoing_capture(stream->capture_id);
  if (!stream->invalidated) return cudaSuccess;
  stream->invalidated = false;
  return fail(cudaErrorStreamCaptureInvalidated);
}
cudaError_t cudaGraphInstantiateWithFlags(cudaGraphExec_t* exec, cudaGraph_t graph, unsigned long long) {
  *exec = new CUgraphExec_st{std::make_shared<const std::vector<Work>>(graph->work)};
  return cudaSuccess;
}
cudaError_t cudaGraphDestroy(cudaGraph_t graph) {
  delete graph;
  return cudaSuccess;
}
cudaError_t cudaGraphExecDestroy(cudaGraphExec_t exec) {
  delete exec;
  return cudaSuccess;
}
cudaError_t cudaGraphLaunch(cudaGraphExec_t exec, cudaStream_t stream) {
  tally(counters().graph_launches);
  return enqueue_work(stream, [work = exec->work] {
    for (const Work& step : *work) step();
  });
}

// For host code outside the library that shares its streams, events and memory (runtime_table.h, exports.map).
__attribute__((visibility("default"))) const tessera::cuda_on_cpu::RuntimeTable* tessera_cuda_on_cpu_runtime() {
  static const tessera::cuda_on_cpu::RuntimeTable table = {
#define TESSERA_CUDA_ON_CPU_ENTRY(name) &::name,
      TESSERA_CUDA_ON_CPU_RUNTIME_CALLS(TESSERA_CUDA_ON_CPU_ENTRY)
#undef TESSERA_CUDA_ON_CPU_ENTRY
      &::cudaMalloc, &::cudaEventCreate, &tessera::kernels::cuda::current_stream, &enqueue_lasting,
  };
  return &table;
}

// What tests and benchmarks read (exports.map): the counts so far, in every thread.
__attribute__((visibility("default"))) tessera::testing::DeviceWorkCounts tessera_cuda_on_cpu_work_counts() {
  const Counters& c = counters();
  tessera::testing::DeviceWorkCounts counts;
#define TESSERA_READ_COUNT(name) counts.name = c.name.load(std::memory_order_relaxed);
  TESSERA_DEVICE_WORK_COUNTS(TESSERA_READ_COUNT)
#undef TESSERA_READ_COUNT
  return counts;
}
// The kernel launches so far by kernel name, one call of `each` per name.
__attribute__((visibility("default"))) void tessera_cuda_on_cpu_kernel_launches(
    void (*each)(const char* name, uint64_t launches, void* user), void* user) {
  Counters& c = counters();
  std::map<std::string, uint64_t> by_text;
  {
    std::lock_guard<std::mutex> lock(c.by_name_mutex);
    for (const auto& [name, launches] : c.kernels_by_name) by_text[name] += launches;
  }
  for (const auto& [name, launches] : by_text) each(name.c_str(), launches, user);
}

}  // extern "C"
