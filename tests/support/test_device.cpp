// Invariants:
//  - window_ (PROT_NONE) and backing_ (read-write) are two reservations of kArenaBytes; a block at window_ + k is
//    backed at backing_ + k. Pages of backing_ are committed on first touch (MAP_NORESERVE), so the arena costs
//    what tests use.
//  - blocks are handed out best-fit from a free list with neighbours merged on free, so memory stays bounded by
//    the peak in use (plus fragmentation), however many sizes a suite allocates.
#include "tests/support/test_device.h"

#include <execinfo.h>
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <map>
#include <memory>
#include <mutex>

#include <gtest/gtest.h>

#include "core/check.h"
#include "kernels/device_info.h"
#include "kernels/cpu/cpu_backend.h"
#include "tests/support/cuda_on_cpu/cuda_on_cpu.h"
#include "tests/support/emulated_gpu_backend.h"

namespace tessera::testing {

namespace {

constexpr size_t kArenaBytes = size_t{64} << 30;  // address space only
constexpr size_t kAlignment = 64;

char* reserve(int protection) {
  void* p = mmap(nullptr, kArenaBytes, protection, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  TESSERA_CHECK(p != MAP_FAILED, "test device: cannot reserve ", kArenaBytes >> 30, " GiB of address space: ",
                std::strerror(errno));
  return static_cast<char*>(p);
}

class GuardedMemory final : public kernels::cpu::HostMemory {
 public:
  GuardedMemory() : window_(reserve(PROT_NONE)), backing_(reserve(PROT_READ | PROT_WRITE)) {
    free_by_offset_[0] = kArenaBytes;
  }

  void* allocate(size_t nbytes) override {
    const size_t size = std::max(kAlignment, (nbytes + kAlignment - 1) / kAlignment * kAlignment);
    std::lock_guard<std::mutex> lock(mutex_);
    auto best = free_by_offset_.end();
    for (auto it = free_by_offset_.begin(); it != free_by_offset_.end(); ++it)
      if (it->second >= size && (best == free_by_offset_.end() || it->second < best->second)) best = it;
    TESSERA_CHECK(best != free_by_offset_.end(), "test device: out of memory allocating ", nbytes, " bytes (",
                  stats_.allocated_bytes, " in use)");
    const size_t offset = best->first, left = best->second - size;
    free_by_offset_.erase(best);
    if (left) free_by_offset_[offset + size] = left;
    ++stats_.allocation_count;
    stats_.allocated_bytes += size;
    stats_.peak_allocated_bytes = std::max(stats_.peak_allocated_bytes, stats_.allocated_bytes);
    return window_ + offset;
  }

  void deallocate(void* ptr, size_t nbytes) override {
    const size_t size = std::max(kAlignment, (nbytes + kAlignment - 1) / kAlignment * kAlignment);
    size_t offset = static_cast<size_t>(static_cast<char*>(ptr) - window_), length = size;
    std::lock_guard<std::mutex> lock(mutex_);
    stats_.allocated_bytes -= size;
    auto next = free_by_offset_.lower_bound(offset);
    if (next != free_by_offset_.end() && next->first == offset + length) {
      length += next->second;
      next = free_by_offset_.erase(next);
    }
    if (next != free_by_offset_.begin()) {
      auto prev = std::prev(next);
      if (prev->first + prev->second == offset) {
        prev->second += length;
        return;
      }
    }
    free_by_offset_[offset] = length;
  }

  std::ptrdiff_t host_offset() const override { return backing_ - window_; }
  kernels::MemoryStats stats() const override {
    std::lock_guard<std::mutex> lock(mutex_);
    return stats_;
  }
  void reset_peak() override {
    std::lock_guard<std::mutex> lock(mutex_);
    stats_.peak_allocated_bytes = stats_.allocated_bytes;
  }
  void release_cached() override {}
  const char* window() const { return window_; }

 private:
  char* window_;
  char* backing_;
  mutable std::mutex mutex_;
  std::map<size_t, size_t> free_by_offset_;  // offset -> length of each free run
  kernels::MemoryStats stats_;
};

GuardedMemory* memory = nullptr;

void write_text(const char* text) {
  const ssize_t ignored = write(STDERR_FILENO, text, std::strlen(text));
  (void)ignored;
}

// Async-signal-safe: write(2), backtrace_symbols_fd, then the default action (a core dump and a non-zero exit).
void on_segfault(int signal, siginfo_t* info, void*) {
  if (is_test_device_address(info->si_addr)) {
    char line[160];
    std::snprintf(line, sizeof(line), "\nhost access to test-device memory at %p: a device buffer was read or "
                  "written outside the backend (a data_ptr or item() inside an op?). Backtrace:\n", info->si_addr);
    write_text(line);
    void* frames[48];
    backtrace_symbols_fd(frames, backtrace(frames, 48), STDERR_FILENO);
  }
  ::signal(signal, SIG_DFL);  // returning re-runs the faulting access, which now takes the default action
}

// Environment variable `name`: `unset` when it is not set, else it must be `unset` or `other`.
std::string env_choice(const char* name, const std::string& unset, const std::string& other) {
  const char* env = std::getenv(name);
  const std::string value = env ? env : unset;
  TESSERA_CHECK(value == unset || value == other, name, "=", value, ": expected ", unset, " or ", other);
  return value;
}

}  // namespace

bool test_device_runs_compute_late() {
  static const bool compute_late = env_choice("TESSERA_TEST_DEVICE_LATE", "side", "compute") == "compute";
  return compute_late;
}

bool is_test_device_address(const void* address) {
  const char* a = static_cast<const char*>(address);
  return memory != nullptr && a >= memory->window() && a < memory->window() + kArenaBytes;
}

bool test_device_runs_cpu_kernels() {
  static const bool cpu_kernels =
      env_choice("TESSERA_TEST_DEVICE_BACKEND", "cpu_kernels", "cuda_on_cpu") == "cpu_kernels";
  return cpu_kernels;
}

Device install_test_device() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (!test_device_runs_cpu_kernels()) {
      kernels::set_test_backend(&cuda_on_cpu_backend(kernels::cpu_backend()));
      return;
    }
    memory = new GuardedMemory();  // never destroyed: tensors may outlive statics
    // Wrapped: the test device records and replays graphs as a GPU does (emulated_gpu_backend.h).
    using Late = kernels::test::EmulatedGpuBackend::Late;
    kernels::set_test_backend(new kernels::test::EmulatedGpuBackend(
        std::make_unique<kernels::cpu::CpuBackend>(*memory, "test:0"),
        test_device_runs_compute_late() ? Late::compute : Late::side_streams));
    struct sigaction action {};
    action.sa_sigaction = on_segfault;
    action.sa_flags = SA_SIGINFO;
    sigemptyset(&action.sa_mask);
    sigaction(SIGSEGV, &action, nullptr);
    void* frame[1];
    backtrace(frame, 1);  // loads the unwinder now: the handler must not be the first to call it
  });
  return Device(DeviceType::test, 0);
}

Device device_under_test() {
  static const Device device = [] {
    const char* env = std::getenv("TESSERA_TEST_DEVICE");
    const std::string name = env ? env : "cpu";
    TESSERA_CHECK(name == "cpu" || name == "test" || name == "cuda", "TESSERA_TEST_DEVICE=", name,
                  ": expected cpu, test or cuda");
    if (name == "cpu") return Device();
    if (name == "cuda") {
      const Device gpu(DeviceType::cuda, 0);
      if (kernels::cuda_device_count() == 0) {
        // Run nothing: the executable then exits 77, which ctest reports as skipped (gtest_exit.h).
        std::printf("TESSERA_TEST_DEVICE=cuda: no GPU on this machine (CUDA path compiled: %s); skipping\n",
                    kernels::cuda_compiled() ? "yes" : "no");
        GTEST_FLAG_SET(filter, "-*");
        return Device();
      }
      set_default_device(gpu);
      return gpu;
    }
    const Device test = install_test_device();
    set_default_device(test);
    return test;
  }();
  return device;
}

}  // namespace tessera::testing
