// CudaBackend: construction, memory, streams and events, device-side index checks (host half), and the registry
// that gives core one backend per GPU.
#include "kernels/cuda/cuda_backend.h"

#include <algorithm>
#include <iterator>
#include <memory>

#include "kernels/cuda/cublaslt_gemm.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/stream.h"
#include "kernels/device_info.h"

namespace tessera::kernels {

namespace cuda {

namespace {
constexpr size_t kIndexSlots = 1024;  // index checks queued between two host synchronisations

bool capturing(cudaStream_t s) {
  cudaStreamCaptureStatus status = cudaStreamCaptureStatusNone;
  TESSERA_CUDA_CHECK(cudaStreamIsCapturing(s, &status));
  return status != cudaStreamCaptureStatusNone;
}
}  // namespace

CudaBackend::CudaBackend(int device) : device_(device), name_("cuda:" + std::to_string(device)), allocator_(device) {
  cudaStream_t s = stream();  // selects the device on this thread
  TESSERA_CUDA_CHECK(cudaMalloc(&index_slots_, kIndexSlots * sizeof(IndexErrorSlot)));
  // Not cudaMemset: it runs on the legacy default stream, which the (non-blocking) compute stream does not wait
  // for, so the first index kernels could atomicMin into uninitialised slots.
  TESSERA_CUDA_CHECK(cudaMemsetAsync(index_slots_, 0xff, kIndexSlots * sizeof(IndexErrorSlot), s));
  TESSERA_CUDA_CHECK(cudaStreamSynchronize(s));
}

cudaStream_t CudaBackend::stream() const { return cuda::current_stream(device_); }

void* CudaBackend::allocate(size_t nbytes) { return allocator_.allocate(nbytes, stream()); }
void CudaBackend::deallocate(void* ptr, size_t) { allocator_.deallocate(ptr); }

// Pinned by this backend's cache, or by anyone else (another GPU's cache, a library's cudaHostRegister: UCX, MPI):
// the runtime then copies asynchronously from the caller's buffer.
bool CudaBackend::page_locked(const void* host) {
  if (pinned_.contains(host)) return true;
  cudaPointerAttributes attributes{};
  if (cudaPointerGetAttributes(&attributes, host) != cudaSuccess) {
    (void)cudaGetLastError();
    return false;
  }
  return attributes.type == cudaMemoryTypeHost;
}

void CudaBackend::copy_to_host(void* host_dst, const void* src, size_t nbytes) {
  check_not_capturing("copy_to_host");
  if (nbytes == 0) return;
  cudaStream_t s = stream();
  TESSERA_CUDA_CHECK(cudaMemcpyAsync(host_dst, src, nbytes, cudaMemcpyDeviceToHost, s));
  TESSERA_CUDA_CHECK(cudaStreamSynchronize(s));
  raise_index_errors();
}

void CudaBackend::copy(void* dst, const void* src, size_t nbytes) {
  if (nbytes) TESSERA_CUDA_CHECK(cudaMemcpyAsync(dst, src, nbytes, cudaMemcpyDeviceToDevice, stream()));
}

void CudaBackend::memset_zero(void* dst, size_t nbytes) {
  if (nbytes) TESSERA_CUDA_CHECK(cudaMemsetAsync(dst, 0, nbytes, stream()));
}

void* CudaBackend::allocate_pinned_host(size_t nbytes) {
  stream();  // pinned for this device's context
  return pinned_.allocate(nbytes);
}

void CudaBackend::free_pinned_host(void* ptr, size_t) { pinned_.free(ptr); }

MemoryStats CudaBackend::memory_stats() const { return allocator_.stats(); }

void CudaBackend::reset_peak_memory_stats() { allocator_.reset_peak(); }
void CudaBackend::empty_cache() {
  check_device_not_capturing("empty_cache");
  stream();  // the allocator's cudaDeviceSynchronize and cudaFree act on the thread's current device: make it ours
  allocator_.empty_cache();
  pinned_.empty_cache();
}

void CudaBackend::record_stream(void* ptr, StreamHandle handle) {
  allocator_.record_stream(ptr, handle ? static_cast<cudaStream_t>(handle) : cuda::compute_stream(device_));
}

void CudaBackend::synchronize() {
  check_not_capturing("synchronize");
  TESSERA_CUDA_CHECK(cudaStreamSynchronize(stream()));
  raise_index_errors();
}

EventHandle CudaBackend::create_event() {
  stream();  // the event belongs to this device
  cudaEvent_t event;
  TESSERA_CUDA_CHECK(cudaEventCreateWithFlags(&event, cudaEventDisableTiming));
  return event;
}

// Event and stream entries select this GPU first (stream() does): the calling thread may be one that never did
// (an MPI communication thread), and its first CUDA call would otherwise make a context on GPU 0.
void CudaBackend::destroy_event(EventHandle event) {
  stream();
  if (event) TESSERA_CUDA_CHECK(cudaEventDestroy(static_cast<cudaEvent_t>(event)));
}

void CudaBackend::record_event(EventHandle event) {
  const cudaStream_t s = stream();
  TESSERA_CUDA_CHECK(cudaEventRecord(static_cast<cudaEvent_t>(event), s));
  // Only a record into the capture makes a node that a wait inside it may depend on.
  if (capturing_here() && capturing(s)) note_captured_event(static_cast<cudaEvent_t>(event));
}

void CudaBackend::wait_event(EventHandle event) {
  const cudaStream_t s = stream();
  // On the capturing thread, a wait on the captured stream (a side stream is free to wait).
  if (capturing_here() && capturing(s)) check_wait_in_capture(static_cast<cudaEvent_t>(event));
  TESSERA_CUDA_CHECK(cudaStreamWaitEvent(s, static_cast<cudaEvent_t>(event), 0));
}

// Index errors are raised by the stream's own host waits (synchronize, copy_to_host), not here: any thread may wait
// for an event, and reading the slots from another thread would race with the kernels that arm them.
void CudaBackend::synchronize_event(EventHandle event) {
  check_not_capturing("synchronize_event");
  stream();
  TESSERA_CUDA_CHECK(cudaEventSynchronize(static_cast<cudaEvent_t>(event)));
}

// Refused while capturing, as synchronize_event is: CUDA forbids querying an event recorded into a capture, and the
// failure would outlive the capture.
bool CudaBackend::query_event(EventHandle event) {
  check_not_capturing("query_event");
  stream();
  const cudaError_t status = cudaEventQuery(static_cast<cudaEvent_t>(event));
  if (cuda_still_pending(status)) return false;
  TESSERA_CUDA_CHECK(status);
  return true;
}

EventHandle CudaBackend::create_timing_event() {
  stream();  // the event belongs to this device
  cudaEvent_t event;
  TESSERA_CUDA_CHECK(cudaEventCreate(&event));
  return event;
}

double CudaBackend::elapsed_ms(EventHandle start, EventHandle end) {
  check_not_capturing("elapsed_ms");
  stream();
  TESSERA_CUDA_CHECK(cudaEventSynchronize(static_cast<cudaEvent_t>(start)));  // elapsed time needs both passed
  TESSERA_CUDA_CHECK(cudaEventSynchronize(static_cast<cudaEvent_t>(end)));
  float ms = 0;
  TESSERA_CUDA_CHECK(cudaEventElapsedTime(&ms, static_cast<cudaEvent_t>(start), static_cast<cudaEvent_t>(end)));
  return ms;
}

StreamHandle CudaBackend::create_stream() {
  stream();  // the stream belongs to this device
  cudaStream_t created;
  TESSERA_CUDA_CHECK(cudaStreamCreateWithFlags(&created, cudaStreamNonBlocking));
  return created;
}

void CudaBackend::destroy_stream(StreamHandle handle) {
  if (handle == nullptr) return;  // the compute stream lives as long as the process
  auto* side = static_cast<cudaStream_t>(handle);
  stream();
  TESSERA_CUDA_CHECK(cudaStreamSynchronize(side));
  {
    std::lock_guard<std::mutex> lock(index_mutex_);
    for (PendingIndexCheck& check : pending_index_checks_)
      if (check.stream == side) check.stream = nullptr;  // its kernel has run; the handle is about to go
    if (rearmed_on_ == side) rearmed_on_ = nullptr;  // the rearming has run too
    forget_graph_stream(side);
  }
  release_gemm_workspace(*this, side);
  allocator_.retire_stream(side, cuda::compute_stream(device_));  // else its cached blocks would never be reused
  TESSERA_CUDA_CHECK(cudaStreamDestroy(side));
}

StreamHandle CudaBackend::current_stream() { return chosen_stream(device_); }
void CudaBackend::set_current_stream(StreamHandle handle) {
  choose_stream(device_, static_cast<cudaStream_t>(handle));
}

// No pinned-buffer wait here, unlike copy_from_host: the caller keeps the buffer until an event after the copy.
// The pinned block is marked used until the copy passes; in a capture, where an event cannot be queried and the
// copy runs again at every replay, until the graph is destroyed.
void CudaBackend::note_pinned_use(const void* pinned, cudaStream_t s) {
  if (!capturing(s)) pinned_.record_use(pinned, s);
  else if (Graph* capture = capture_) pinned_.hold_for_graph(pinned, capture);
}

void CudaBackend::copy_from_host_async(void* dst, const void* pinned_src, size_t nbytes) {
  if (nbytes == 0) return;
  cudaStream_t s = stream();
  TESSERA_CUDA_CHECK(cudaMemcpyAsync(dst, pinned_src, nbytes, cudaMemcpyHostToDevice, s));
  note_pinned_use(pinned_src, s);
}

void CudaBackend::copy_to_host_async(void* pinned_dst, const void* src, size_t nbytes) {
  if (nbytes == 0) return;
  cudaStream_t s = stream();
  TESSERA_CUDA_CHECK(cudaMemcpyAsync(pinned_dst, src, nbytes, cudaMemcpyDeviceToHost, s));
  note_pinned_use(pinned_dst, s);
}

IndexErrorSlot* CudaBackend::begin_index_check(const IndexBounds& bounds) {
  if (capture_ != nullptr && std::this_thread::get_id() == capture_thread_) return graph_index_slot(bounds);
  std::unique_lock<std::mutex> lock(index_mutex_);
  // Every slot in flight: settle them first. A loop: while unlocked, other threads may fill the slots again.
  while (pending_index_checks_.size() >= kIndexSlots) {
    lock.unlock();
    synchronize();
    lock.lock();
  }
  const cudaStream_t s = stream();
  if (rearmed_on_ != nullptr && rearmed_on_ != s) TESSERA_CUDA_CHECK(cudaStreamWaitEvent(s, rearmed_, 0));
  pending_index_checks_.push_back({bounds.op, bounds.what, bounds.context, s});
  return index_slots_ + (pending_index_checks_.size() - 1);
}

void CudaBackend::raise_index_errors() {
  std::string error;
  {
    // Held until the slots are read and rearmed: a check begun meanwhile would get slot 0 again, and its error
    // would be read under another op's name or wiped by the rearming.
    std::lock_guard<std::mutex> lock(index_mutex_);
    std::vector<PendingIndexCheck> pending;
    std::vector<Graph*> graphs;
    pending.swap(pending_index_checks_);
    graphs.swap(replayed_);
    // Every set is read and rearmed before the first error is raised: a slot left armed with an old position would
    // be reported against a later step.
    error = read_index_slots(index_slots_, pending);
    if (!pending.empty()) {  // read_index_slots rearmed them on this stream
      if (rearmed_ == nullptr) TESSERA_CUDA_CHECK(cudaEventCreateWithFlags(&rearmed_, cudaEventDisableTiming));
      rearmed_on_ = stream();
      TESSERA_CUDA_CHECK(cudaEventRecord(rearmed_, rearmed_on_));
    }
    for (Graph* graph : graphs) {
      std::string graph_error = read_graph_index_slots(graph);
      if (error.empty()) error = std::move(graph_error);
    }
  }
  TESSERA_CHECK(error.empty(), error);
}

std::string CudaBackend::read_index_slots(IndexErrorSlot* device_slots,
                                          const std::vector<PendingIndexCheck>& checks) {
  if (checks.empty()) return {};
  std::vector<IndexErrorSlot> slots(checks.size());
  // On the current stream, not cudaMemcpy (legacy default stream, which does not wait for the non-blocking
  // compute stream): after synchronize_event only the event is known to have passed, and index kernels queued
  // after it may still be running; reading their slots early would miss (then misattribute) their errors.
  cudaStream_t s = stream();
  // The slots are shared by all streams: wait for the other streams whose checks are read here.
  std::vector<cudaStream_t> others;
  for (const PendingIndexCheck& check : checks)
    if (check.stream != nullptr && check.stream != s &&
        std::find(others.begin(), others.end(), check.stream) == others.end())
      others.push_back(check.stream);
  for (cudaStream_t other : others) {
    cudaEvent_t queued = nullptr;
    TESSERA_CUDA_CHECK(cudaEventCreateWithFlags(&queued, cudaEventDisableTiming));
    TESSERA_CUDA_CHECK(cudaEventRecord(queued, other));
    TESSERA_CUDA_CHECK(cudaStreamWaitEvent(s, queued, 0));
    TESSERA_CUDA_CHECK(cudaEventDestroy(queued));  // released once passed; the wait stays queued
  }
  TESSERA_CUDA_CHECK(cudaMemcpyAsync(slots.data(), device_slots, slots.size() * sizeof(IndexErrorSlot),
                                     cudaMemcpyDeviceToHost, s));
  TESSERA_CUDA_CHECK(cudaStreamSynchronize(s));
  // Rearmed in this stream's order; an index check queued next on another stream waits for it on the device
  // (begin_index_check), not the host.
  TESSERA_CUDA_CHECK(cudaMemsetAsync(device_slots, 0xff, slots.size() * sizeof(IndexErrorSlot), s));
  for (size_t i = 0; i < slots.size(); ++i) {
    if (slots[i].position == kNoBadIndex) continue;
    const PendingIndexCheck& check = checks[i];
    return detail::concat(check.op, ": ", check.what, " ", slots[i].value, " (at position ", slots[i].position,
                          ") is out of range for ", check.context);
  }
  return {};
}

}  // namespace cuda

Backend& cuda_backend(int device) {
  static std::once_flag once[cuda::kMaxDevices];
  static cuda::CudaBackend* backends[cuda::kMaxDevices] = {};  // never destroyed: tensors may outlive main
  const int count = cuda_device_count();
  TESSERA_CHECK(device >= 0 && device < count, "cuda:", device, " requested, but this machine has ",
                count == 0 ? std::string("no usable GPU (no device, or no driver)")
                           : std::to_string(count) + " GPU" + (count == 1 ? "" : "s"));
  // once[] and backends[] (and the per-GPU tables of stream.cpp and per_device.h) hold kMaxDevices entries.
  TESSERA_CHECK(device < cuda::kMaxDevices, "cuda:", device, ": Tessera handles at most ", cuda::kMaxDevices,
                " GPUs per process");
  std::call_once(once[device], [device] { backends[device] = new cuda::CudaBackend(device); });
  return *backends[device];
}

}  // namespace tessera::kernels
