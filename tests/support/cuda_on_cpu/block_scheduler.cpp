// Runs a kernel's grid on the calling OS thread: blocks one after another; a block's threads as fibers (ucontext)
// that switch only where CUDA threads meet (__syncthreads, warp shuffles). Invariants:
//  - warps run one at a time, each as far as a GPU may let it run ahead of the others: its lanes run until they
//    all wait at a shuffle, which then opens at once (a shuffle waits for its warp only), and on until every lane
//    waits at __syncthreads or has returned; then the next warp. The barrier opens when the whole block waits at
//    it. So a value that one warp writes and another reads with no barrier between is read too early or too late;
//  - warps, and lanes within a warp, are taken from the highest index down in one block and from the lowest up in
//    the next (alternating over fibered blocks and launches): a missing barrier shows as a wrong result whichever
//    side of it has the lower index;
//  - a thread that returns while others wait at a barrier, lanes of a warp at different shuffles, or a shuffle in a
//    partial warp would hang or be undefined on a GPU: each is raised as an error naming the block;
//  - fibers cost a context switch per thread and rendezvous, so block 0 runs as fibers and, when none of its
//    threads synchronised, the other blocks run as plain calls; a plain-call thread that synchronises after all
//    is an error, never a silent wrong answer;
//  - shared memory holds garbage (0xcd bytes) when a block starts, as on a GPU, where it would hold another
//    block's values: dynamic shared memory is filled per block, each __shared__ variable where it is declared
//    (poison_shared, added by translate_cuda_source.py), once per block;
//  - an exception in a thread (a TESSERA_CHECK in device code) ends the block and is rethrown by launch().
#include <pthread.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <exception>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <vector>

#include "tests/support/cuda_on_cpu/block_scheduler.h"

namespace tessera::cuda_on_cpu {

namespace {

constexpr size_t kStackBytes = size_t{256} << 10;
constexpr int kWarpSize = 32;
constexpr int kGarbage = 0xcd;

enum class Waiting { nothing, barrier, shuffle, done };

struct Fiber {
  ucontext_t context;
  Waiting waiting = Waiting::nothing;
  uint64_t shuffles = 0;  // shuffles entered: the rendezvous number, and the parity of its exchange slot
};

// One OS thread's fiber stacks, kept between launches (address space reserved once, pages committed on touch),
// each above a PROT_NONE guard page, so an overflow faults instead of writing into the next fiber's frames.
class Stacks {
 public:
  ~Stacks() {
    for (char* mapping : mappings_) munmap(mapping, kStackBytes + page());
  }
  void* operator[](size_t i) {
    while (mappings_.size() <= i) {
      void* mapping = mmap(nullptr, kStackBytes + page(), PROT_READ | PROT_WRITE,
                           MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
      if (mapping == MAP_FAILED || mprotect(mapping, page(), PROT_NONE) != 0)
        throw std::runtime_error("cuda_on_cpu: cannot map a fiber stack");
      mappings_.push_back(static_cast<char*>(mapping));
    }
    return mappings_[i] + page();
  }

 private:
  static size_t page() { return static_cast<size_t>(sysconf(_SC_PAGESIZE)); }
  std::vector<char*> mappings_;
};

struct Block {
  const std::function<void()>* body = nullptr;
  ThreadPlace place{};
  bool fibers = false;  // false: threads run as plain calls, and may not synchronise
  bool synchronised = false;
  int current = 0;
  std::vector<Fiber> threads;
  std::vector<uint64_t> exchange[2];  // [shuffle parity][thread]: the values lanes deposit
  ucontext_t scheduler;
  std::exception_ptr error;
};

thread_local Block* g_block = nullptr;
thread_local ThreadPlace g_place{};
thread_local void* g_dynamic_shared = nullptr;
thread_local uint64_t g_fibered_blocks = 0;  // alternates the resume order (file comment)
thread_local uint64_t g_block_runs = 0;      // numbers each block's run, for poison_shared

// What a thread keeps between launches, freed when the thread ends. Not a thread_local object: the main thread's
// are destroyed when exit() begins, before the static objects whose destructors may still run queued kernels (a
// communicator that drains its stream); a key's destructor runs at a thread's end but never at exit().
struct ThreadState {
  Stacks stacks;
  std::unordered_map<const void*, uint64_t> poisoned;  // __shared__ variable -> the run it was filled in
};
ThreadState& thread_state() {
  static const pthread_key_t key = [] {
    pthread_key_t made;
    pthread_key_create(&made, [](void* state) { delete static_cast<ThreadState*>(state); });
    return made;
  }();
  auto* state = static_cast<ThreadState*>(pthread_getspecific(key));
  if (state == nullptr) {
    state = new ThreadState();
    pthread_setspecific(key, state);
  }
  return *state;
}

uint3 unflatten(uint64_t t, dim3 shape) {
  return {static_cast<unsigned>(t % shape.x), static_cast<unsigned>((t / shape.x) % shape.y),
          static_cast<unsigned>(t / (uint64_t{shape.x} * shape.y))};
}

std::string where(const Block& block) {
  return "block (" + std::to_string(block.place.block.x) + ", " + std::to_string(block.place.block.y) + ", " +
         std::to_string(block.place.block.z) + ")";
}

[[noreturn]] void kernel_bug(const Block& block, const std::string& what) {
  throw std::logic_error("cuda_on_cpu: " + what + ", " + where(block) + ": a hang or undefined behaviour on a GPU");
}

// Back to the scheduler until it resumes this thread.
void wait(Waiting what) {
  Block& block = *g_block;
  if (!block.fibers)
    throw std::logic_error("cuda_on_cpu: a thread of " + where(block) +
                           " synchronises, but block 0 of this launch did not, so the emulator ran it as plain calls");
  block.synchronised = true;
  const int t = block.current;
  block.threads[t].waiting = what;
  swapcontext(&block.threads[t].context, &block.scheduler);
}

void fiber_main() {
  Block& block = *g_block;
  try {
    (*block.body)();
  } catch (...) {
    if (!block.error) block.error = std::current_exception();
  }
  block.threads[block.current].waiting = Waiting::done;
  // Returning resumes uc_link: the scheduler.
}

void resume(Block& block, int t) {
  block.current = t;
  g_place.thread = unflatten(static_cast<uint64_t>(t), block.place.block_dim);
  swapcontext(&block.scheduler, &block.threads[t].context);
}

// Runs the lanes [first, end) of one warp until each waits at __syncthreads or has returned, opening the warp's
// shuffles as soon as all its lanes reach them.
void run_warp(Block& block, int first, int end, bool downwards) {
  for (;;) {
    for (int k = 0; k < end - first; ++k) {
      const int t = downwards ? end - 1 - k : first + k;
      while (block.threads[t].waiting == Waiting::nothing) resume(block, t);
      if (block.error) return;
    }
    int at_shuffle = 0;
    for (int t = first; t < end; ++t) at_shuffle += block.threads[t].waiting == Waiting::shuffle;
    if (at_shuffle == 0) return;
    if (end - first < kWarpSize) kernel_bug(block, "a warp shuffle in a partial warp");
    if (at_shuffle < kWarpSize)
      kernel_bug(block, "lanes of warp " + std::to_string(first / kWarpSize) +
                            " wait at a shuffle that others of the warp never reach (they wait at __syncthreads or "
                            "returned)");
    for (int t = first; t < end; ++t) {
      if (block.threads[t].shuffles != block.threads[first].shuffles)
        kernel_bug(block, "lanes of warp " + std::to_string(first / kWarpSize) + " meet at different shuffles");
      block.threads[t].waiting = Waiting::nothing;
    }
  }
}

// After every warp ran: opens the barrier when every thread waits at it; false when every thread has returned.
bool open_barrier(Block& block) {
  int at_barrier = 0, done = 0;
  for (const Fiber& f : block.threads) {
    at_barrier += f.waiting == Waiting::barrier;
    done += f.waiting == Waiting::done;
  }
  const int n = static_cast<int>(block.threads.size());
  if (done == n) return false;
  if (at_barrier < n)
    kernel_bug(block, std::to_string(at_barrier) + " threads wait at __syncthreads for " + std::to_string(done) +
                          " that returned");
  for (Fiber& f : block.threads) f.waiting = Waiting::nothing;
  return true;
}

// A fresh fiber that runs fiber_main on `stack`, then returns to `scheduler`. Apart from the loop that calls it:
// getcontext returns twice as far as the compiler knows, which would make it fear for the loop's variables.
[[gnu::noinline]] void start_fiber(Fiber& f, void* stack, ucontext_t* scheduler) {
  f = Fiber{};
  getcontext(&f.context);
  f.context.uc_stack.ss_sp = stack;
  f.context.uc_stack.ss_size = kStackBytes;
  f.context.uc_link = scheduler;
  makecontext(&f.context, fiber_main, 0);
}

void run_fibers(Block& block) {
  const int n = static_cast<int>(block.threads.size());
  Stacks& stacks = thread_state().stacks;
  for (int t = 0; t < n; ++t) start_fiber(block.threads[t], stacks[static_cast<size_t>(t)], &block.scheduler);
  const bool downwards = g_fibered_blocks++ % 2 == 0;
  const int warps = (n + kWarpSize - 1) / kWarpSize;
  do {
    for (int k = 0; k < warps; ++k) {
      const int w = downwards ? warps - 1 - k : k;
      run_warp(block, w * kWarpSize, std::min(n, (w + 1) * kWarpSize), downwards);
      // A thread that threw left the others waiting: their stacks are abandoned (fibers hold no resources).
      if (block.error) return;
    }
  } while (open_barrier(block));
}

void run_calls(Block& block) {
  const unsigned n = block.place.block_dim.x * block.place.block_dim.y * block.place.block_dim.z;
  for (unsigned t = 0; t < n && !block.error; ++t) {
    block.current = static_cast<int>(t);
    g_place.thread = unflatten(t, block.place.block_dim);
    try {
      (*block.body)();
    } catch (...) {
      block.error = std::current_exception();
    }
  }
}

// The launch's state on this thread, cleared however run_grid leaves.
struct RunningLaunch {
  RunningLaunch(Block& block, void* dynamic_shared) {
    if (g_block != nullptr) throw std::logic_error("cuda_on_cpu: a kernel launch from inside a running kernel");
    g_block = &block;
    g_dynamic_shared = dynamic_shared;
  }
  ~RunningLaunch() {
    g_block = nullptr;
    g_dynamic_shared = nullptr;
  }
  RunningLaunch(const RunningLaunch&) = delete;
  RunningLaunch& operator=(const RunningLaunch&) = delete;
};

}  // namespace

const ThreadPlace& place() { return g_place; }

int lane() { return g_block->current % kWarpSize; }

void syncthreads() { wait(Waiting::barrier); }

uint64_t shuffle(uint64_t value, int source) {
  Block& block = *g_block;
  const int t = block.current;
  const uint64_t k = block.threads[t].shuffles++;
  block.exchange[k & 1][t] = value;
  wait(Waiting::shuffle);
  return block.exchange[k & 1][t - t % kWarpSize + source];
}

void* dynamic_shared_bytes() { return g_dynamic_shared; }

void poison_shared(void* variable, size_t bytes) {
  uint64_t& filled_in = thread_state().poisoned[variable];
  if (filled_in == g_block_runs) return;
  std::memset(variable, kGarbage, bytes);
  filled_in = g_block_runs;
}

void check_shuffle(unsigned mask, int width, const char* intrinsic) {
  if (mask != 0xffffffffu)
    throw std::logic_error(std::string("cuda_on_cpu: ") + intrinsic + " with a partial mask is not emulated");
  if (width < 1 || width > kWarpSize || (width & (width - 1)) != 0)
    throw std::logic_error(std::string("cuda_on_cpu: ") + intrinsic + " with width " + std::to_string(width) +
                           " (a power of two up to 32 on a GPU)");
}

void run_grid(dim3 grid, dim3 block_dim, size_t shared_bytes, const std::function<void()>& body) {
  const unsigned threads = block_dim.x * block_dim.y * block_dim.z;
  std::vector<max_align_t> dynamic_shared((shared_bytes + sizeof(max_align_t) - 1) / sizeof(max_align_t));
  Block block;
  block.body = &body;
  block.place.block_dim = block_dim;
  block.place.grid_dim = grid;
  block.threads.resize(threads);
  block.exchange[0].resize(threads);
  block.exchange[1].resize(threads);
  const RunningLaunch running(block, dynamic_shared.data());
  const uint64_t blocks = uint64_t{grid.x} * grid.y * grid.z;
  for (uint64_t b = 0; b < blocks && !block.error; ++b) {
    block.place.block = unflatten(b, grid);
    g_place = block.place;
    ++g_block_runs;
    std::memset(dynamic_shared.data(), kGarbage, dynamic_shared.size() * sizeof(max_align_t));
    block.fibers = b == 0 || block.synchronised;
    if (block.fibers) run_fibers(block);
    else run_calls(block);
  }
  if (block.error) std::rethrow_exception(block.error);
}

}  // namespace tessera::cuda_on_cpu
