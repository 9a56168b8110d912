// Runs a kernel's grid on the calling OS thread: blocks one after another; a block's threads as fibers (ucontext)
// that switch only where CUDA threads meet (__syncthreads, warp shuffles). Invariants:
//  - a fiber runs until it reaches a barrier or a shuffle, or returns; the scheduler then resumes the others in
//    index order, from the highest thread down in one block and from the lowest up in the next (alternating over
//    fibered blocks and launches). So a value that one thread writes and another reads with no barrier between is,
//    in some block, read before it is written, whichever of the two has the lower index, and the missing barrier
//    shows as a wrong result rather than hiding;
//  - a barrier opens when every thread of the block waits at it; a shuffle when every lane of the warp does. A
//    thread that returns while others wait at a barrier, or a warp whose lanes meet different rendezvous, is a
//    kernel bug on a GPU (a hang or undefined behaviour): it is raised as an error naming the kernel's block;
//  - fibers cost a context switch per thread and rendezvous, so block 0 runs as fibers and, when none of its
//    threads synchronised, the other blocks run as plain calls; a plain-call thread that synchronises after all
//    is an error, never a silent wrong answer;
//  - an exception in a thread (a TESSERA_CHECK in device code) ends the block and is rethrown by launch().
#include <sys/mman.h>
#include <ucontext.h>

#include <cstdio>
#include <exception>
#include <stdexcept>
#include <string>
#include <vector>

#include "tests/support/cuda_on_cpu/block_scheduler.h"

namespace tessera::cuda_on_cpu {

namespace {

constexpr size_t kStackBytes = size_t{256} << 10;
constexpr int kWarpSize = 32;

enum class Waiting { nothing, barrier, shuffle, done };

struct Fiber {
  ucontext_t context;
  Waiting waiting = Waiting::nothing;
  uint64_t shuffles = 0;  // shuffles entered: the rendezvous number, and the parity of its exchange slot
};

// One OS thread's fiber stacks, kept between launches (address space reserved once, pages committed on touch).
class Stacks {
 public:
  ~Stacks() {
    for (void* stack : stacks_) munmap(stack, kStackBytes);
  }
  void* operator[](size_t i) {
    while (stacks_.size() <= i) {
      void* stack = mmap(nullptr, kStackBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                         -1, 0);
      if (stack == MAP_FAILED) throw std::runtime_error("cuda_on_cpu: cannot map a fiber stack");
      stacks_.push_back(stack);
    }
    return stacks_[i];
  }

 private:
  std::vector<void*> stacks_;
};

struct Block {
  const std::function<void()>* body = nullptr;
  ThreadPlace place{};
  bool fibers = false;      // false: threads run as plain calls, and may not synchronise
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
thread_local Stacks g_stacks;
thread_local uint64_t g_fibered_blocks = 0;  // alternates the resume order (file comment)

uint3 unflatten(unsigned t, dim3 shape) {
  return {t % shape.x, (t / shape.x) % shape.y, t / (shape.x * shape.y)};
}

std::string where(const Block& block) {
  return "block (" + std::to_string(block.place.block.x) + ", " + std::to_string(block.place.block.y) + ", " +
         std::to_string(block.place.block.z) + ")";
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
  g_place.thread = unflatten(static_cast<unsigned>(t), block.place.block_dim);
  swapcontext(&block.scheduler, &block.threads[t].context);
}

// Opens what can open: every warp whose lanes all wait at a shuffle, else the barrier when every thread waits at
// it. Returns false when all are done; throws when threads wait for ones that will never come.
bool release(Block& block) {
  const int n = static_cast<int>(block.threads.size());
  bool all_done = true, opened = false;
  for (int first = 0; first < n; first += kWarpSize) {
    const int end = std::min(n, first + kWarpSize);
    bool all_shuffle = true, any_shuffle = false;
    for (int t = first; t < end; ++t) {
      all_shuffle = all_shuffle && block.threads[t].waiting == Waiting::shuffle;
      any_shuffle = any_shuffle || block.threads[t].waiting == Waiting::shuffle;
    }
    if (all_shuffle) {
      for (int t = first; t < end; ++t) block.threads[t].waiting = Waiting::nothing;
      opened = true;
    } else if (any_shuffle && end - first < kWarpSize) {
      throw std::logic_error("cuda_on_cpu: a warp shuffle in a block of " + std::to_string(n) +
                             " threads (a partial warp), " + where(block));
    }
  }
  if (opened) return true;
  int at_barrier = 0, done = 0;
  for (const Fiber& f : block.threads) {
    at_barrier += f.waiting == Waiting::barrier;
    done += f.waiting == Waiting::done;
  }
  all_done = done == n;
  if (all_done) return false;
  if (at_barrier == n) {
    for (Fiber& f : block.threads) f.waiting = Waiting::nothing;
    return true;
  }
  throw std::logic_error("cuda_on_cpu: threads of " + where(block) + " wait for others that never come (" +
                         std::to_string(at_barrier) + " at __syncthreads, " + std::to_string(done) +
                         " returned, the rest at a warp shuffle its warp does not all reach): a hang on a GPU");
}

void run_fibers(Block& block) {
  const int n = static_cast<int>(block.threads.size());
  for (int t = 0; t < n; ++t) {
    Fiber& f = block.threads[t];
    f = Fiber{};
    getcontext(&f.context);
    f.context.uc_stack.ss_sp = g_stacks[static_cast<size_t>(t)];
    f.context.uc_stack.ss_size = kStackBytes;
    f.context.uc_link = &block.scheduler;
    makecontext(&f.context, fiber_main, 0);
  }
  const bool downwards = g_fibered_blocks++ % 2 == 0;
  do {
    for (int k = 0; k < n; ++k) {
      const int t = downwards ? n - 1 - k : k;
      while (block.threads[t].waiting == Waiting::nothing) resume(block, t);
      if (block.error) break;
    }
    // A thread that threw left the others waiting: their stacks are abandoned (fibers hold no resources).
    if (block.error) return;
  } while (release(block));
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

}  // namespace

const ThreadPlace& place() { return g_place; }

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

void require_full_mask(unsigned mask, const char* intrinsic) {
  if (mask != 0xffffffffu)
    throw std::logic_error(std::string("cuda_on_cpu: ") + intrinsic + " with a partial mask is not emulated");
}

void run_grid(dim3 grid, dim3 block_dim, size_t shared_bytes, const std::function<void()>& body) {
  const unsigned threads = block_dim.x * block_dim.y * block_dim.z;
  std::vector<max_align_t> dynamic_shared((shared_bytes + sizeof(max_align_t) - 1) / sizeof(max_align_t));
  std::memset(dynamic_shared.data(), 0xcd, dynamic_shared.size() * sizeof(max_align_t));  // uninitialised, as on a GPU
  Block block;
  block.body = &body;
  block.place.block_dim = block_dim;
  block.place.grid_dim = grid;
  block.threads.resize(threads);
  block.exchange[0].resize(threads);
  block.exchange[1].resize(threads);
  // Kernels may launch nothing recursively, but a body may call host code that launches (a test's functor): keep
  // the outer launch's state.
  Block* const outer_block = g_block;
  const ThreadPlace outer_place = g_place;
  void* const outer_shared = g_dynamic_shared;
  g_block = &block;
  g_dynamic_shared = dynamic_shared.data();
  const unsigned blocks = grid.x * grid.y * grid.z;
  for (unsigned b = 0; b < blocks && !block.error; ++b) {
    block.place.block = unflatten(b, grid);
    g_place = block.place;
    block.fibers = b == 0 || block.synchronised;
    if (block.fibers) run_fibers(block);
    else run_calls(block);
  }
  g_block = outer_block;
  g_place = outer_place;
  g_dynamic_shared = outer_shared;
  if (block.error) std::rethrow_exception(block.error);
}

}  // namespace tessera::cuda_on_cpu
