// CpuBackend: construction, memory and streams (the CPU runs every entry to completion on the calling thread, so
// streams and events have nothing to order), and the backend registry.
#include "kernels/cpu/cpu_backend.h"

#include <chrono>
#include <cstring>

#include "kernels/cpu/parallel.h"

namespace tessera::kernels {

namespace cpu {

CpuBackend::CpuBackend(HostMemory& memory, std::string name)
    : memory_(memory), host_offset_(memory.host_offset()), name_(std::move(name)) {}

void* CpuBackend::allocate(size_t nbytes) { return memory_.allocate(nbytes); }
void CpuBackend::deallocate(void* ptr, size_t nbytes) { memory_.deallocate(ptr, nbytes); }

void CpuBackend::copy_from_host(void* dst, const void* host_src, size_t nbytes) {
  if (nbytes) std::memcpy(host(dst), host_src, nbytes);
}

void CpuBackend::copy_to_host(void* host_dst, const void* src, size_t nbytes) {
  if (nbytes) std::memcpy(host_dst, host(src), nbytes);
}

void CpuBackend::copy(void* dst, const void* src, size_t nbytes) {
  char* d = host(static_cast<char*>(dst));
  const char* s = host(static_cast<const char*>(src));
  parallel_for(static_cast<int64_t>(nbytes), 1 << 20, [&](int64_t begin, int64_t end) {
    std::memcpy(d + begin, s + begin, static_cast<size_t>(end - begin));
  });
}

void CpuBackend::memset_zero(void* dst, size_t nbytes) {
  if (nbytes) std::memset(host(dst), 0, nbytes);
}

void* CpuBackend::allocate_pinned_host(size_t nbytes) { return caching_host_memory().allocate(nbytes); }
void CpuBackend::free_pinned_host(void* ptr, size_t nbytes) { caching_host_memory().deallocate(ptr, nbytes); }
MemoryStats CpuBackend::memory_stats() const { return memory_.stats(); }
void CpuBackend::empty_cache() { memory_.release_cached(); }

// CPU events are always complete; a timing event keeps the host time it was recorded at.
namespace {
struct TimingEvent {
  std::chrono::steady_clock::time_point at;
};
char plain_event;  // every plain event: nothing to keep
}  // namespace

EventHandle CpuBackend::create_event() { return &plain_event; }
EventHandle CpuBackend::create_timing_event() { return new TimingEvent{std::chrono::steady_clock::now()}; }
void CpuBackend::destroy_event(EventHandle event) {
  if (event != &plain_event) delete static_cast<TimingEvent*>(event);
}
void CpuBackend::record_event(EventHandle event) {
  if (event != &plain_event) static_cast<TimingEvent*>(event)->at = std::chrono::steady_clock::now();
}
double CpuBackend::elapsed_ms(EventHandle start, EventHandle end) {
  return std::chrono::duration<double, std::milli>(static_cast<TimingEvent*>(end)->at -
                                                   static_cast<TimingEvent*>(start)->at)
      .count();
}

void CpuBackend::begin_capture() {
  TESSERA_THROW("graph capture needs a CUDA device: ", name_, " runs every operation at once (\"cuda_graph\" is "
                "for GPU training)");
}
GraphHandle CpuBackend::end_capture() { TESSERA_THROW("end_capture on ", name_, ": no capture was begun"); }
void CpuBackend::replay_graph(GraphHandle) { TESSERA_THROW("replay_graph on ", name_, ": the CPU has no graphs"); }
void CpuBackend::destroy_graph(GraphHandle) { TESSERA_THROW("destroy_graph on ", name_, ": the CPU has no graphs"); }

}  // namespace cpu

Backend& cpu_backend() {
  static auto* backend = new cpu::CpuBackend(cpu::caching_host_memory(), "cpu");  // never destroyed
  return *backend;
}

namespace {
Backend* installed_test_backend = nullptr;
}

Backend* test_backend() { return installed_test_backend; }
void set_test_backend(Backend* backend) { installed_test_backend = backend; }

}  // namespace tessera::kernels
