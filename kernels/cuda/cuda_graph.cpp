// CudaBackend's graphs: stream capture of the calling thread's compute stream into a CUDA graph, replayed with
// cudaGraphLaunch. Invariants:
//  - capture runs in relaxed mode: cuBLASLt, cuDNN and the allocator may call cudaMalloc while a step is captured
//    (new segments of the graph's pool); what must not be captured (a host wait or read) is refused by
//    check_not_capturing with the entry's name, before CUDA would invalidate the capture with a bare error code;
//  - the graph's memory is the allocator pool keyed by the Graph's address (caching_allocator.h), released when
//    the graph is destroyed, after the device has finished its replays; so are the pinned host blocks its captured
//    copies use (pinned_host_cache.h);
//  - index checks met while capturing get the graph's own slots; every replay arms them (they start at
//    kNoBadIndex and are rearmed after each read), and the host synchronisation after a replay reads them.
#include <cuda_runtime.h>

#include <algorithm>
#include <memory>

#include "kernels/cuda/cuda_backend.h"
#include "kernels/cuda/cuda_check.h"

namespace tessera::kernels::cuda {

namespace {
constexpr size_t kGraphIndexSlots = 256;  // index checks one captured step may hold
}

struct CudaBackend::Graph {
  cudaStream_t stream = nullptr;  // the stream captured: ended there, and replays must be queued there too
  cudaGraphExec_t exec = nullptr;
  IndexErrorSlot* index_slots = nullptr;
  std::vector<PendingIndexCheck> index_checks;
  std::vector<cudaEvent_t> recorded;  // events recorded into this capture: the only ones a wait inside it may name
  cudaStream_t pool_key() { return reinterpret_cast<cudaStream_t>(this); }
  ~Graph() {
    if (exec) discard_cuda_error(cudaGraphExecDestroy(exec));
    if (index_slots) discard_cuda_error(cudaFree(index_slots));
  }
};

void CudaBackend::check_not_capturing(const char* entry) const {
  TESSERA_CHECK(capture_ == nullptr || std::this_thread::get_id() != capture_thread_, entry, " on ", name_,
                " while a CUDA graph is being captured: a captured step cannot wait for the device or move data "
                "to or from the host (read values after the replay; copy inputs into the graph's static tensors "
                "before it)");
}

// Device-wide, not per thread: cudaDeviceSynchronize and cudaFree(Host) are invalid while any stream of the device
// captures, whichever thread asks.
void CudaBackend::check_device_not_capturing(const char* entry) const {
  TESSERA_CHECK(capture_ == nullptr, entry, " on ", name_, " while a CUDA graph is being captured on it");
}

void CudaBackend::begin_capture() {
  TESSERA_CHECK(capture_ == nullptr, "begin_capture on ", name_, ": a CUDA graph is already being captured");
  auto graph = std::make_unique<Graph>();
  graph->stream = stream();
  TESSERA_CUDA_CHECK(cudaMalloc(&graph->index_slots, kGraphIndexSlots * sizeof(IndexErrorSlot)));
  TESSERA_CUDA_CHECK(
      cudaMemsetAsync(graph->index_slots, 0xff, kGraphIndexSlots * sizeof(IndexErrorSlot), graph->stream));
  // Work queued before the capture runs first, and the index slots of the backend are settled.
  synchronize();
  allocator_.begin_pool(graph->stream, graph->pool_key());
  const cudaError_t status = cudaStreamBeginCapture(graph->stream, cudaStreamCaptureModeRelaxed);
  if (status != cudaSuccess) {
    allocator_.end_pool();
    allocator_.release_pool(graph->pool_key(), graph->stream);
    TESSERA_CUDA_CHECK(status);
  }
  capture_thread_ = std::this_thread::get_id();
  capture_ = graph.release();
}

GraphHandle CudaBackend::end_capture() {
  TESSERA_CHECK(capture_ != nullptr && std::this_thread::get_id() == capture_thread_, "end_capture on ", name_,
                ": this thread is not capturing a graph");
  std::unique_ptr<Graph> graph(capture_.exchange(nullptr));
  cudaGraph_t captured = nullptr;
  const cudaError_t status = cudaStreamEndCapture(graph->stream, &captured);
  allocator_.end_pool();
  cudaError_t instantiated = status;
  if (status == cudaSuccess) {
    instantiated = cudaGraphInstantiateWithFlags(&graph->exec, captured, 0);
    cudaGraphDestroy(captured);
  }
  if (instantiated != cudaSuccess) {
    cudaGetLastError();
    allocator_.release_pool(graph->pool_key(), graph->stream);
    pinned_.release_graph(graph.get());
    TESSERA_THROW("CUDA graph capture on ", name_, " failed: ", cudaGetErrorString(instantiated),
                  " (an operation in the captured step cannot be captured)");
  }
  return graph.release();
}

void CudaBackend::replay_graph(GraphHandle handle) {
  check_not_capturing("replay_graph");
  auto* graph = static_cast<Graph*>(handle);
  // On another stream the replay would race eager work on the captured one (they share its GEMM workspace and
  // the blocks it allocated before the capture) and run before the inputs the caller queued on the current one.
  TESSERA_CHECK(stream() == graph->stream, "replay_graph on ", name_,
                ": the current stream is not the one the graph was captured on; replay it on that stream");
  TESSERA_CUDA_CHECK(cudaGraphLaunch(graph->exec, graph->stream));
  if (graph->index_checks.empty()) return;
  std::lock_guard<std::mutex> lock(index_mutex_);
  if (std::find(replayed_.begin(), replayed_.end(), graph) == replayed_.end()) replayed_.push_back(graph);
}

void CudaBackend::destroy_graph(GraphHandle handle) {
  check_device_not_capturing("destroy_graph");  // release_pool synchronises the whole device
  stream();  // this GPU current on the calling thread: the device sync and the graph's destruction below act there
  std::unique_ptr<Graph> graph(static_cast<Graph*>(handle));
  if (!graph) return;
  {
    std::lock_guard<std::mutex> lock(index_mutex_);
    replayed_.erase(std::remove(replayed_.begin(), replayed_.end(), graph.get()), replayed_.end());
  }
  allocator_.release_pool(graph->pool_key(), graph->stream);  // synchronises the device: no replay runs after it
  pinned_.release_graph(graph.get());
}

IndexErrorSlot* CudaBackend::graph_index_slot(const IndexBounds& bounds) {
  Graph* capture = capture_;
  std::vector<PendingIndexCheck>& checks = capture->index_checks;
  TESSERA_CHECK(checks.size() < kGraphIndexSlots, bounds.op, " on ", name_, ": a captured CUDA graph holds at most ",
                kGraphIndexSlots, " index checks");
  // The replay runs on the captured stream: a read from another stream must wait for it (read_index_slots).
  checks.push_back({bounds.op, bounds.what, bounds.context, capture->stream});
  return capture->index_slots + (checks.size() - 1);
}

// A side stream is being destroyed, after its work (the replays of graphs captured on it) has run: their index
// checks need no wait for it any more, and its handle must not be used again.
void CudaBackend::forget_graph_stream(cudaStream_t side) {
  for (Graph* graph : replayed_)
    for (PendingIndexCheck& check : graph->index_checks)
      if (check.stream == side) check.stream = nullptr;
}

void CudaBackend::note_captured_event(cudaEvent_t event) {
  Graph* capture = capture_;
  if (std::find(capture->recorded.begin(), capture->recorded.end(), event) == capture->recorded.end())
    capture->recorded.push_back(event);
}

// CUDA refuses a capturing stream's wait for an event recorded outside the capture (cudaErrorStreamCaptureIsolation,
// driver_types.h) and invalidates the capture; refuse it first, naming the entry.
void CudaBackend::check_wait_in_capture(cudaEvent_t event) const {
  Graph* capture = capture_;
  TESSERA_CHECK(std::find(capture->recorded.begin(), capture->recorded.end(), event) != capture->recorded.end(),
                "wait_event on ", name_, " while a CUDA graph is being captured: the event was recorded outside the "
                "capture, which CUDA refuses (cudaErrorStreamCaptureIsolation); wait before capture() or record the "
                "event inside it");
}

std::string CudaBackend::read_graph_index_slots(Graph* graph) {
  return read_index_slots(graph->index_slots, graph->index_checks);
}

}  // namespace tessera::kernels::cuda
