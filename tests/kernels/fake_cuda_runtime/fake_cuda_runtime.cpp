// The fake runtime's state is one global (the caches under test call it from one thread at a time in these tests);
// each call mirrors the real one's contract as far as the caches depend on it.
#include "tests/kernels/fake_cuda_runtime/fake_cuda_runtime.h"

#include <cstdint>
#include <cstdlib>
#include <map>
#include <memory>
#include <vector>

#include "tests/support/fake_cuda_error_names.h"

struct CUstream_st {
  uint64_t queued = 0, completed = 0;  // work queued on the stream so far / known to have run
};
struct CUevent_st {
  CUstream_st* stream = nullptr;  // null: never recorded (the default stream is a CUstream_st too)
  uint64_t position = 0;
};

namespace tessera::testing::fake_cuda {
namespace {

struct State {
  size_t device_bytes = 0;
  std::map<void*, size_t> device_blocks, host_blocks;
  std::vector<std::unique_ptr<CUstream_st>> streams;
  CUstream_st default_stream;
  cudaError_t last_error = cudaSuccess;
  Counts counts;
};

State& state() {
  static State s;
  return s;
}

CUstream_st* resolve(cudaStream_t stream) { return stream ? stream : &state().default_stream; }

cudaError_t fail(cudaError_t error) {
  state().last_error = error;
  return error;
}

}  // namespace

void reset(size_t device_bytes) {
  State& s = state();
  for (auto& [ptr, size] : s.device_blocks) std::free(ptr);
  for (auto& [ptr, size] : s.host_blocks) std::free(ptr);
  s.device_blocks.clear();
  s.host_blocks.clear();
  s.streams.clear();
  s.default_stream = {};
  s.last_error = cudaSuccess;
  s.counts = {};
  s.device_bytes = device_bytes;
}

cudaStream_t make_stream() {
  state().streams.push_back(std::make_unique<CUstream_st>());
  return state().streams.back().get();
}

void complete(cudaStream_t stream) {
  CUstream_st* s = resolve(stream);
  s->completed = s->queued;
}

Counts counts() { return state().counts; }

}  // namespace tessera::testing::fake_cuda

namespace fake = tessera::testing::fake_cuda;

extern "C" {

cudaError_t cudaMalloc(void** ptr, size_t size) {
  auto& s = fake::state();
  if (s.counts.device_bytes_in_use + size > s.device_bytes) return fake::fail(cudaErrorMemoryAllocation);
  *ptr = std::aligned_alloc(512, (size + 511) / 512 * 512);
  s.device_blocks[*ptr] = size;
  s.counts.device_bytes_in_use += size;
  ++s.counts.mallocs;
  return cudaSuccess;
}

cudaError_t cudaFree(void* ptr) {
  auto& s = fake::state();
  auto it = s.device_blocks.find(ptr);
  if (it == s.device_blocks.end()) return fake::fail(cudaErrorInvalidValue);
  s.counts.device_bytes_in_use -= it->second;
  std::free(ptr);
  s.device_blocks.erase(it);
  ++s.counts.frees;
  return cudaSuccess;
}

cudaError_t cudaHostAlloc(void** ptr, size_t size, unsigned int) {
  *ptr = std::aligned_alloc(4096, (size + 4095) / 4096 * 4096);
  fake::state().host_blocks[*ptr] = size;
  ++fake::state().counts.host_allocs;
  return cudaSuccess;
}

cudaError_t cudaFreeHost(void* ptr) {
  auto& s = fake::state();
  if (!s.host_blocks.erase(ptr)) return fake::fail(cudaErrorInvalidValue);
  std::free(ptr);
  ++s.counts.host_frees;
  return cudaSuccess;
}

cudaError_t cudaMemGetInfo(size_t* free_bytes, size_t* total_bytes) {
  *total_bytes = fake::state().device_bytes;
  *free_bytes = fake::state().device_bytes - fake::state().counts.device_bytes_in_use;
  return cudaSuccess;
}

cudaError_t cudaDeviceSynchronize(void) {
  auto& s = fake::state();
  fake::complete(nullptr);
  for (auto& stream : s.streams) fake::complete(stream.get());
  ++s.counts.device_syncs;
  return cudaSuccess;
}

cudaError_t cudaGetDevice(int* device) {
  *device = 0;
  return cudaSuccess;
}
cudaError_t cudaSetDevice(int device) { return device == 0 ? cudaSuccess : fake::fail(cudaErrorInvalidDevice); }

// No stream captures here (CachingAllocator::joins_capture asks only while a pool is being captured into).
cudaError_t cudaStreamGetCaptureInfo(cudaStream_t, cudaStreamCaptureStatus* status, unsigned long long* id,
                                     cudaGraph_t*, const cudaGraphNode_t**, const cudaGraphEdgeData**, size_t*) {
  *status = cudaStreamCaptureStatusNone;
  if (id) *id = 0;
  return cudaSuccess;
}

cudaError_t cudaStreamSynchronize(cudaStream_t stream) {
  fake::complete(stream);
  return cudaSuccess;
}

cudaError_t cudaEventCreateWithFlags(cudaEvent_t* event, unsigned int) {
  *event = new CUevent_st();
  ++fake::state().counts.live_events;
  return cudaSuccess;
}

cudaError_t cudaEventDestroy(cudaEvent_t event) {
  delete event;
  --fake::state().counts.live_events;
  return cudaSuccess;
}

cudaError_t cudaEventRecord(cudaEvent_t event, cudaStream_t stream) {
  CUstream_st* s = fake::resolve(stream);
  event->stream = s;
  event->position = ++s->queued;  // the event itself is work on the stream
  return cudaSuccess;
}

cudaError_t cudaEventQuery(cudaEvent_t event) {
  if (event->stream == nullptr || event->stream->completed >= event->position) return cudaSuccess;
  return fake::fail(cudaErrorNotReady);
}

cudaError_t cudaGetLastError(void) {
  const cudaError_t error = fake::state().last_error;
  fake::state().last_error = cudaSuccess;
  return error;
}

const char* cudaGetErrorName(cudaError_t error) { return tessera::testing::fake_cuda_error_name(error); }

const char* cudaGetErrorString(cudaError_t error) {
  return error == cudaErrorMemoryAllocation ? "out of memory (fake runtime)" : cudaGetErrorName(error);
}

}  // extern "C"
