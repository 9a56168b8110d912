// The CUDA runtime calls kernels/cuda makes, over host memory, for the CUDA backend compiled for the CPU. Work
// queued on a stream (copies, memsets, kernels) runs at once on the calling thread; a stream being captured records
// the work instead, and a graph launch runs the record. Stream ordering is not what this checks (the test device
// does, tests/support/emulated_gpu_backend.h): it runs the kernels' own code and the backend's host logic around
// them. So that the host logic's waiting paths run too, the first query of an eagerly recorded event says "not
// ready" (as a GPU's would, right after the record); a wait or a later query finds it passed.
//
// Invariants:
//  - "device" memory is host memory from aligned_alloc (page-aligned, as a GPU's segments are), counted against a
//    device of kDeviceBytes so cudaMemGetInfo and the allocator's out-of-memory path see sizes;
//  - errors follow the runtime: a failing call returns its code and leaves it as the thread's last error, which
//    cudaGetLastError returns once and clears;
//  - the library is linked with every symbol local except its factory (CMakeLists.txt), so these definitions never
//    stand in for the real libcudart that the rest of a test program links.
#include <cuda_runtime.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "tests/support/cuda_on_cpu/block_scheduler.h"
#include "tests/support/cuda_on_cpu/runtime.h"

using Work = std::function<void()>;

struct CUstream_st {
  std::vector<Work>* capture = nullptr;  // the graph being captured on this stream, if any
  uint64_t capture_id = 0;               // which capture (events recorded into it name it)
  bool invalidated = false;              // a call refused during the capture: its end fails, as on a GPU
};
struct CUevent_st {
  std::chrono::steady_clock::time_point time{};
  bool timing = true;
  bool first_query_pending = false;  // eagerly recorded and not yet asked about: the next query says not ready
  uint64_t capture_id = 0;  // recorded into this capture (a query is refused while it lasts)
};
struct CUgraph_st {
  std::vector<Work> work;
};
struct CUgraphExec_st {
  std::vector<Work> work;
};

namespace {

constexpr size_t kDeviceBytes = size_t{16} << 30;
// cudaMalloc promises 256 bytes; a GPU's segments are in fact aligned to pages of its address space, and the
// caching allocator's tests rely on blocks carved at 512-byte steps from a segment staying 512-byte aligned.
constexpr size_t kDeviceAlignment = 4096;

thread_local cudaError_t g_last_error = cudaSuccess;

struct Memory {
  std::mutex mutex;
  std::map<void*, size_t> blocks;
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

cudaError_t enqueue_work(cudaStream_t s, Work work) {
  if (!is_default(s) && s->capture != nullptr) s->capture->push_back(std::move(work));
  else work();
  return cudaSuccess;
}

bool capturing(cudaStream_t s) { return !is_default(s) && s->capture != nullptr; }

// A host wait or query that a capture cannot hold: refused, and the capture is invalid from then on.
cudaError_t refuse_in_capture(cudaStream_t s) {
  s->invalidated = true;
  return fail(cudaErrorStreamCaptureUnsupported);
}

// Captures going on (by id): an event recorded into one cannot be waited for or queried until it ends.
struct Captures {
  std::mutex mutex;
  std::set<uint64_t> active;
  uint64_t next = 1;
};
Captures& captures() {
  static Captures* c = new Captures();
  return *c;
}
bool recorded_in_capture(cudaEvent_t event) {
  if (event->capture_id == 0) return false;
  Captures& c = captures();
  std::lock_guard<std::mutex> lock(c.mutex);
  return c.active.count(event->capture_id) != 0;
}

}  // namespace

namespace tessera::cuda_on_cpu {

void enqueue(cudaStream_t stream, std::function<void()> work) { enqueue_work(stream, std::move(work)); }

void launch(dim3 grid, dim3 block, size_t shared_bytes, cudaStream_t stream, std::function<void()> body) {
  const unsigned long long threads = 1ull * block.x * block.y * block.z;
  const bool valid = grid.x >= 1 && grid.y >= 1 && grid.z >= 1 && grid.x <= 0x7fffffffu && grid.y <= 65535 &&
                     grid.z <= 65535 && threads >= 1 && threads <= 1024 && block.z <= 64 &&
                     shared_bytes <= 48 * 1024;  // dynamic shared memory beyond 48 KiB needs an opt-in
  if (!valid) {
    fail(cudaErrorInvalidConfiguration);
    return;
  }
  enqueue_work(stream, [grid, block, shared_bytes, body = std::move(body)] { run_grid(grid, block, shared_bytes, body); });
}

}  // namespace tessera::cuda_on_cpu

extern "C" {

cudaError_t cudaGetLastError() {
  const cudaError_t error = g_last_error;
  g_last_error = cudaSuccess;
  return error;
}

const char* cudaGetErrorName(cudaError_t error) {
  switch (error) {
    case cudaSuccess: return "cudaSuccess";
    case cudaErrorInvalidValue: return "cudaErrorInvalidValue";
    case cudaErrorMemoryAllocation: return "cudaErrorMemoryAllocation";
    case cudaErrorInvalidConfiguration: return "cudaErrorInvalidConfiguration";
    case cudaErrorInvalidDevice: return "cudaErrorInvalidDevice";
    case cudaErrorNotReady: return "cudaErrorNotReady";
    case cudaErrorStreamCaptureUnsupported: return "cudaErrorStreamCaptureUnsupported";
    case cudaErrorIllegalState: return "cudaErrorIllegalState";
    case cudaErrorStreamCaptureInvalidated: return "cudaErrorStreamCaptureInvalidated";
    case cudaErrorInvalidResourceHandle: return "cudaErrorInvalidResourceHandle";
    default: return "cudaError (cuda_on_cpu)";
  }
}
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
cudaError_t cudaDeviceSynchronize() { return cudaSuccess; }

cudaError_t cudaMalloc(void** ptr, size_t size) {
  Memory& m = memory();
  std::lock_guard<std::mutex> lock(m.mutex);
  const size_t rounded = std::max<size_t>(1, (size + kDeviceAlignment - 1) / kDeviceAlignment) * kDeviceAlignment;
  if (m.in_use + rounded > kDeviceBytes) return fail(cudaErrorMemoryAllocation);
  *ptr = std::aligned_alloc(kDeviceAlignment, rounded);
  if (*ptr == nullptr) return fail(cudaErrorMemoryAllocation);
  m.blocks[*ptr] = rounded;
  m.in_use += rounded;
  return cudaSuccess;
}
cudaError_t cudaFree(void* ptr) {
  if (ptr == nullptr) return cudaSuccess;
  Memory& m = memory();
  std::lock_guard<std::mutex> lock(m.mutex);
  auto it = m.blocks.find(ptr);
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
  *ptr = std::aligned_alloc(256, (size + 255) / 256 * 256 + 256);
  return *ptr ? cudaSuccess : fail(cudaErrorMemoryAllocation);
}
cudaError_t cudaFreeHost(void* ptr) {
  std::free(ptr);
  return cudaSuccess;
}

cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t count, cudaMemcpyKind, cudaStream_t stream) {
  return enqueue_work(stream, [=] { std::memmove(dst, src, count); });
}
cudaError_t cudaMemsetAsync(void* dst, int value, size_t count, cudaStream_t stream) {
  return enqueue_work(stream, [=] { std::memset(dst, value, count); });
}
cudaError_t cudaMemcpy(void* dst, const void* src, size_t count, cudaMemcpyKind) {
  std::memmove(dst, src, count);
  return cudaSuccess;
}
cudaError_t cudaMemset(void* dst, int value, size_t count) {
  std::memset(dst, value, count);
  return cudaSuccess;
}

cudaError_t cudaStreamCreateWithFlags(cudaStream_t* stream, unsigned int) {
  *stream = new CUstream_st();
  return cudaSuccess;
}
cudaError_t cudaStreamDestroy(cudaStream_t stream) {
  if (is_default(stream)) return fail(cudaErrorInvalidValue);
  if (stream->capture != nullptr) {
    Captures& c = captures();
    std::lock_guard<std::mutex> lock(c.mutex);
    c.active.erase(stream->capture_id);
  }
  delete stream->capture;
  delete stream;
  return cudaSuccess;
}
// A host wait on a stream being captured invalidates the capture on a GPU: refuse it the same way.
cudaError_t cudaStreamSynchronize(cudaStream_t stream) {
  return capturing(stream) ? refuse_in_capture(stream) : cudaSuccess;
}
cudaError_t cudaStreamQuery(cudaStream_t stream) {
  return capturing(stream) ? refuse_in_capture(stream) : cudaSuccess;
}
cudaError_t cudaStreamWaitEvent(cudaStream_t, cudaEvent_t, unsigned int) { return cudaSuccess; }

cudaError_t cudaEventCreate(cudaEvent_t* event) {
  *event = new CUevent_st();
  return cudaSuccess;
}
cudaError_t cudaEventCreateWithFlags(cudaEvent_t* event, unsigned int flags) {
  *event = new CUevent_st();
  (*event)->timing = (flags & cudaEventDisableTiming) == 0;
  return cudaSuccess;
}
cudaError_t cudaEventDestroy(cudaEvent_t event) {
  delete event;
  return cudaSuccess;
}
cudaError_t cudaEventRecord(cudaEvent_t event, cudaStream_t stream) {
  event->capture_id = capturing(stream) ? stream->capture_id : 0;
  event->first_query_pending = !capturing(stream);
  return enqueue_work(stream, [event] { event->time = std::chrono::steady_clock::now(); });
}
cudaError_t cudaEventQuery(cudaEvent_t event) {
  if (recorded_in_capture(event)) return fail(cudaErrorStreamCaptureUnsupported);
  if (!event->first_query_pending) return cudaSuccess;
  event->first_query_pending = false;
  return fail(cudaErrorNotReady);
}
cudaError_t cudaEventSynchronize(cudaEvent_t event) {
  if (recorded_in_capture(event)) return fail(cudaErrorStreamCaptureUnsupported);
  event->first_query_pending = false;
  return cudaSuccess;
}
cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t start, cudaEvent_t end) {
  if (!start->timing || !end->timing) return fail(cudaErrorInvalidResourceHandle);  // made with DisableTiming
  *ms = std::chrono::duration<float, std::milli>(end->time - start->time).count();
  return cudaSuccess;
}

cudaError_t cudaStreamBeginCapture(cudaStream_t stream, cudaStreamCaptureMode) {
  if (is_default(stream)) return fail(cudaErrorStreamCaptureUnsupported);
  if (stream->capture != nullptr) return fail(cudaErrorIllegalState);
  stream->capture = new std::vector<Work>();
  Captures& c = captures();
  std::lock_guard<std::mutex> lock(c.mutex);
  stream->capture_id = c.next++;
  c.active.insert(stream->capture_id);
  return cudaSuccess;
}
cudaError_t cudaStreamIsCapturing(cudaStream_t stream, cudaStreamCaptureStatus* status) {
  *status = capturing(stream) ? cudaStreamCaptureStatusActive : cudaStreamCaptureStatusNone;
  return cudaSuccess;
}
cudaError_t cudaStreamEndCapture(cudaStream_t stream, cudaGraph_t* graph) {
  if (!capturing(stream)) return fail(cudaErrorIllegalState);
  *graph = stream->invalidated ? nullptr : new CUgraph_st{std::move(*stream->capture)};
  delete stream->capture;
  stream->capture = nullptr;
  {
    Captures& c = captures();
    std::lock_guard<std::mutex> lock(c.mutex);
    c.active.erase(stream->capture_id);
  }
  if (!stream->invalidated) return cudaSuccess;
  stream->invalidated = false;
  return fail(cudaErrorStreamCaptureInvalidated);
}
cudaError_t cudaGraphInstantiateWithFlags(cudaGraphExec_t* exec, cudaGraph_t graph, unsigned long long) {
  *exec = new CUgraphExec_st{graph->work};
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
  return enqueue_work(stream, [exec] {
    for (const Work& work : exec->work) work();
  });
}

}  // extern "C"
