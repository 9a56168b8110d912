#pragma once
// Reduction machinery shared by reduce.cu, softmax.cu and loss.cu: group reductions (lanes of a warp, a block, the
// slices of a column tile), the kernels that hand every (outer, n, inner) segment to a group, split reductions with
// per-chunk partials, and a flat elementwise launcher. Invariants:
//  - deterministic: which thread reads which element, and the tree that combines partial results, depend only on the
//    shape, never on timing or scheduling; no float atomics. A run repeats bit for bit.
//  - a group reduction returns its result to every thread of the group (softmax needs the max and the sum in every
//    lane) and leaves shared memory free for the next one. The combining ops used for broadcast values (+, max,
//    arg-best with index tie-break) are commutative bit for bit, so the butterfly gives every lane the same value.
//  - every thread of a group runs the same number of rounds and reaches every reduction, even with nothing to read
//    (Segment::active false, an empty range): shuffles need all 32 lanes and __syncthreads the whole block. A task
//    writes per-segment outputs only from the leader of an active segment.
//  - layouts: inner == 1 reads contiguous rows (sub-warp lanes per row up to n <= kWarpRowLimit, a block per row
//    above); inner > 1 reads columns with tx neighbouring columns per block, so each warp loads contiguous runs.
//  - a reduction with few outputs and long segments splits each segment into chunks (one block each), stores Acc
//    partials in a temporary and combines them in chunk order in a second kernel: two launches, no memset.
#include <cuda_runtime.h>

#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>

#include "kernels/common/dtype.h"
#include "kernels/cuda/cuda_backend.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/launch.h"

namespace tessera::kernels::cuda::reduction {

constexpr int kWarpSize = 32;
constexpr unsigned kFullMask = 0xffffffffu;
constexpr int kSharedBytes = kBlockSize * 16;  // one 16-byte value per thread (column tiles of ArgBest<double>)
constexpr int64_t kWarpRowLimit = 1024;        // rows up to this long take lanes of a warp; longer ones a block
constexpr int64_t kMinBlockWork = 16384;       // a split costs a launch: only segments longer than this split
constexpr int64_t kSplitTargetBlocks = 4 * 132;  // H200: 132 SMs, several blocks each
constexpr int64_t kMaxSplits = 1024;

inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }
inline unsigned blocks_for(int64_t blocks) {
  return static_cast<unsigned>(blocks < 1 ? 1 : (blocks > kMaxGridBlocks ? kMaxGridBlocks : blocks));
}
inline int ceil_log2(int64_t v) {
  int l = 0;
  while ((int64_t{1} << l) < v) ++l;
  return l;
}

// --- device math in the accumulation type (f32 calls stay f32)
template <typename A> __device__ __forceinline__ A device_exp(A x) {
  if constexpr (std::is_same_v<A, float>) return ::expf(x);
  else return ::exp(x);
}
template <typename A> __device__ __forceinline__ A device_log(A x) {
  if constexpr (std::is_same_v<A, float>) return ::logf(x);
  else return ::log(x);
}
// max ignoring NaN (as std::max(acc, v) with a NaN v, starting from -inf)
template <typename A> __device__ __forceinline__ A device_fmax(A a, A b) {
  if constexpr (std::is_same_v<A, float>) return ::fmaxf(a, b);
  else return ::fmax(a, b);
}

struct Plus {
  template <typename V> __device__ __forceinline__ V operator()(V a, V b) const { return a + b; }
};
struct Min {
  template <typename V> __device__ __forceinline__ V operator()(V a, V b) const { return b < a ? b : a; }
};
struct MaxIgnoringNaN {
  template <typename V> __device__ __forceinline__ V operator()(V a, V b) const { return device_fmax(a, b); }
};

// Any trivially copyable value through a warp shuffle, 4 bytes at a time (structs such as ArgBest included).
template <typename V>
__device__ __forceinline__ V shfl_xor(V v, int lane_mask) {
  static_assert(std::is_trivially_copyable_v<V>);
  constexpr int kWords = (sizeof(V) + 3) / 4;
  unsigned words[kWords] = {};
  memcpy(words, &v, sizeof(V));
#pragma unroll
  for (int i = 0; i < kWords; ++i) words[i] = __shfl_xor_sync(kFullMask, words[i], lane_mask);
  memcpy(&v, words, sizeof(V));
  return v;
}

// --- groups: the threads that reduce one segment. lane() in [0, width()) strides over the segment.

// `width` (a power of two <= 32) neighbouring lanes of a warp; the warp holds 32 / width groups, all with the same
// width, so every lane runs the same shuffles.
struct WarpGroup {
  int lane_;
  int width_;
  __device__ int lane() const { return lane_; }
  __device__ int width() const { return width_; }
  __device__ bool leader() const { return lane_ == 0; }
  template <typename V, typename Op>
  __device__ V reduce(V v, Op op) const {
    for (int offset = width_ >> 1; offset > 0; offset >>= 1) v = op(v, shfl_xor(v, offset));
    return v;
  }
};

// The whole block (kBlockSize threads).
struct BlockGroup {
  unsigned char* smem;  // kSharedBytes
  __device__ int lane() const { return static_cast<int>(threadIdx.x); }
  __device__ int width() const { return kBlockSize; }
  __device__ bool leader() const { return threadIdx.x == 0; }
  template <typename V, typename Op>
  __device__ V reduce(V v, Op op) const {
    constexpr int kWarps = kBlockSize / kWarpSize;
    static_assert(sizeof(V) * kWarps <= kSharedBytes);
    V* slots = reinterpret_cast<V*>(smem);
    v = WarpGroup{static_cast<int>(threadIdx.x) % kWarpSize, kWarpSize}.reduce(v, op);
    if (threadIdx.x % kWarpSize == 0) slots[threadIdx.x / kWarpSize] = v;
    __syncthreads();
    if (threadIdx.x == 0) {  // the warps' results in warp order
      V total = slots[0];
      for (int w = 1; w < kWarps; ++w) total = op(total, slots[w]);
      slots[0] = total;
    }
    __syncthreads();
    v = slots[0];
    __syncthreads();  // every thread has read slots[0]: the next reduction may overwrite it
    return v;
  }
};

// A column tile: thread t serves column t % tx as slice t / tx of kBlockSize / tx slices (tx = 1 << tx_log2).
struct ColumnGroup {
  unsigned char* smem;  // kSharedBytes
  int tx_log2;
  __device__ int lane() const { return static_cast<int>(threadIdx.x) >> tx_log2; }
  __device__ int width() const { return kBlockSize >> tx_log2; }
  __device__ bool leader() const { return (static_cast<int>(threadIdx.x) >> tx_log2) == 0; }
  template <typename V, typename Op>
  __device__ V reduce(V v, Op op) const {
    static_assert(sizeof(V) * kBlockSize <= kSharedBytes);
    V* slots = reinterpret_cast<V*>(smem);
    const int t = static_cast<int>(threadIdx.x);
    slots[t] = v;
    __syncthreads();
    for (int half = (kBlockSize >> tx_log2) >> 1; half > 0; half >>= 1) {  // pairwise over slices
      const int reach = half << tx_log2;
      if (t < reach) slots[t] = op(slots[t], slots[t + reach]);
      __syncthreads();
    }
    v = slots[t & ((1 << tx_log2) - 1)];
    __syncthreads();
    return v;
  }
};

// One output's segment: element k of it is at offset + k * stride; this group reads k in [begin, end) (a chunk
// when split). An inactive segment (a group with no work this round) has an empty range and writes nothing.
struct Segment {
  int64_t offset;
  int64_t stride;
  int64_t begin;
  int64_t end;
  int64_t out;    // the output index, o * inner + j
  int64_t split;  // the chunk's number when split
  bool active;
};

// --- kernels that hand segments to groups. Op: template <class G> __device__ void operator()(const G&, const
// Segment&) const.

template <typename Op>
__global__ void __launch_bounds__(kBlockSize) warp_rows_kernel(Op op, int64_t rows, int64_t n, int width_log2) {
  const int width = 1 << width_log2;
  const WarpGroup group{static_cast<int>(threadIdx.x) & (width - 1), width};
  const int64_t per_warp = kWarpSize >> width_log2;
  const int64_t sub = (threadIdx.x % kWarpSize) >> width_log2;
  const int64_t warp = (static_cast<int64_t>(blockIdx.x) * kBlockSize + threadIdx.x) / kWarpSize;
  const int64_t warps = static_cast<int64_t>(gridDim.x) * (kBlockSize / kWarpSize);
  for (int64_t first = warp * per_warp; first < rows; first += warps * per_warp) {  // uniform per warp
    const int64_t row = first + sub;
    const bool active = row < rows;
    op(group, Segment{active ? row * n : 0, 1, 0, active ? n : 0, row, 0, active});
  }
}

template <typename Op>
__global__ void __launch_bounds__(kBlockSize) block_rows_kernel(Op op, int64_t rows, int64_t n, int64_t splits,
                                                                 int64_t chunk) {
  __shared__ __align__(16) unsigned char smem[kSharedBytes];
  const BlockGroup group{smem};
  for (int64_t item = blockIdx.x; item < rows * splits; item += gridDim.x) {  // uniform per block
    const int64_t row = item / splits, split = item % splits;
    const int64_t begin = split * chunk, end = begin + chunk < n ? begin + chunk : n;
    op(group, Segment{row * n, 1, begin, end, row, split, true});
  }
}

template <typename Op>
__global__ void __launch_bounds__(kBlockSize) columns_kernel(Op op, int64_t outer, int64_t n, int64_t inner,
                                                              int tx_log2, int64_t splits, int64_t chunk) {
  __shared__ __align__(16) unsigned char smem[kSharedBytes];
  const ColumnGroup group{smem, tx_log2};
  const int64_t tiles = (inner + (int64_t{1} << tx_log2) - 1) >> tx_log2;  // column tiles per outer index
  const int64_t items = outer * tiles * splits;
  for (int64_t item = blockIdx.x; item < items; item += gridDim.x) {  // uniform per block
    const int64_t split = item % splits, tile = item / splits;
    const int64_t o = tile / tiles;
    const int64_t j = ((tile % tiles) << tx_log2) + (threadIdx.x & ((1u << tx_log2) - 1));
    const bool active = j < inner;
    const int64_t begin = split * chunk, end = begin + chunk < n ? begin + chunk : n;
    op(group, Segment{o * n * inner + j, inner, active ? begin : 0, active ? end : 0, o * inner + j, split, active});
  }
}

// How segments map to groups and blocks.
struct SegmentPlan {
  enum class Kind { warp_rows, block_rows, columns };
  Kind kind = Kind::warp_rows;
  int log2 = 0;  // warp_rows: log2 of lanes per row; columns: log2 of columns per block
  int64_t splits = 1;
  int64_t chunk = 0;
  int64_t blocks = 1;
};

// `splittable`: the op is a reduction (Reduction below), so a long segment may be cut into chunks.
inline SegmentPlan plan_segments(const ReduceShape& s, bool splittable) {
  SegmentPlan p;
  int64_t groups = s.outer;
  if (s.inner == 1 && s.n <= kWarpRowLimit) {
    p.kind = SegmentPlan::Kind::warp_rows;
    p.log2 = ceil_log2(s.n < 1 ? 1 : s.n);
    p.log2 = p.log2 > 5 ? 5 : p.log2;
    p.chunk = s.n;
    p.blocks = ceil_div(s.outer, kBlockSize >> p.log2);
    return p;
  }
  if (s.inner == 1) {
    p.kind = SegmentPlan::Kind::block_rows;
  } else {
    p.kind = SegmentPlan::Kind::columns;
    p.log2 = ceil_log2(s.inner);
    p.log2 = p.log2 > 5 ? 5 : p.log2;
    groups = s.outer * ceil_div(s.inner, int64_t{1} << p.log2);
  }
  p.chunk = s.n;
  if (splittable && s.n > 0) {
    const int64_t by_size = ceil_div(s.n, kMinBlockWork >> p.log2);
    const int64_t by_grid = ceil_div(kSplitTargetBlocks, groups);
    int64_t splits = by_size < by_grid ? by_size : by_grid;
    splits = splits > kMaxSplits ? kMaxSplits : splits;
    if (splits > 1) {  // chunks of whole 32-element runs; the last may be shorter, none is empty
      p.chunk = ceil_div(ceil_div(s.n, splits), kWarpSize) * kWarpSize;
      p.splits = ceil_div(s.n, p.chunk);
    }
  }
  p.blocks = groups * p.splits;
  return p;
}

// kColumns false: the caller never passes inner > 1 (saves the column kernel's instantiation).
template <bool kColumns = true, typename Op>
void launch_segments(const Op& op, const ReduceShape& s, const SegmentPlan& p, cudaStream_t stream) {
  switch (p.kind) {
    case SegmentPlan::Kind::warp_rows:
      warp_rows_kernel<<<blocks_for(p.blocks), kBlockSize, 0, stream>>>(op, s.outer, s.n, p.log2);
      TESSERA_CUDA_CHECK_LAUNCH(warp_rows_kernel);
      return;
    case SegmentPlan::Kind::block_rows:
      block_rows_kernel<<<blocks_for(p.blocks), kBlockSize, 0, stream>>>(op, s.outer, s.n, p.splits, p.chunk);
      TESSERA_CUDA_CHECK_LAUNCH(block_rows_kernel);
      return;
    case SegmentPlan::Kind::columns:
      if constexpr (kColumns) {
        columns_kernel<<<blocks_for(p.blocks), kBlockSize, 0, stream>>>(op, s.outer, s.n, s.inner, p.log2, p.splits,
                                                                        p.chunk);
        TESSERA_CUDA_CHECK_LAUNCH(columns_kernel);
        return;
      }
      break;
  }
  TESSERA_THROW("CUDA reduction: a column layout reached a rows-only reduction");
}

// --- reductions. A Task has: using Acc; identity(); combine(a, b) (associative, commutative for the values a
// group broadcasts); template <class G> reduce(group, segment) -> the group's Acc over the segment's range (in
// every thread); store(out, acc).

template <typename Task>
struct Reduction {
  Task task;
  typename Task::Acc* partials;  // null: store each output; else partials[out * splits + split]
  int64_t splits;
  template <typename G>
  __device__ void operator()(const G& group, const Segment& s) const {
    const typename Task::Acc acc = task.reduce(group, s);
    if (!group.leader() || !s.active) return;
    if (partials) partials[s.out * splits + s.split] = acc;
    else task.store(s.out, acc);
  }
};

// One warp per output combines its partials: lanes in chunk-strided order, then the warp's tree.
template <typename Task>
__global__ void __launch_bounds__(kBlockSize) finish_partials_kernel(Task task, const typename Task::Acc* partials,
                                                                      int64_t outputs, int64_t splits) {
  using Acc = typename Task::Acc;
  const WarpGroup group{static_cast<int>(threadIdx.x) % kWarpSize, kWarpSize};
  const int64_t warps = static_cast<int64_t>(gridDim.x) * (kBlockSize / kWarpSize);
  for (int64_t out = (static_cast<int64_t>(blockIdx.x) * kBlockSize + threadIdx.x) / kWarpSize; out < outputs;
       out += warps) {
    Acc acc = task.identity();
    for (int64_t s = group.lane(); s < splits; s += kWarpSize) acc = task.combine(acc, partials[out * splits + s]);
    acc = group.reduce(acc, [&](const Acc& a, const Acc& b) { return task.combine(a, b); });
    if (group.leader()) task.store(out, acc);
  }
}

// A device temporary from the backend's stream-ordered caching allocator, freed at scope exit (safe right after
// the launches that use it: later users of the block come on the same stream).
class DeviceBuffer {
 public:
  DeviceBuffer(CudaBackend& backend, size_t bytes) : backend_(backend), bytes_(bytes), ptr_(backend.allocate(bytes)) {}
  ~DeviceBuffer() { backend_.deallocate(ptr_, bytes_); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  template <typename V> V* as() const { return static_cast<V*>(ptr_); }

 private:
  CudaBackend& backend_;
  size_t bytes_;
  void* ptr_;
};

// Reduces every segment of `shape` with `task` (its store writes the outputs): one kernel, or two when split.
template <bool kColumns = true, typename Task>
void run_reduction(CudaBackend& backend, const Task& task, const ReduceShape& shape) {
  using Acc = typename Task::Acc;
  const int64_t outputs = shape.outer * shape.inner;
  if (outputs == 0) return;
  const SegmentPlan plan = plan_segments(shape, true);
  const cudaStream_t stream = backend.stream();
  if (plan.splits == 1) {
    launch_segments<kColumns>(Reduction<Task>{task, nullptr, 1}, shape, plan, stream);
    return;
  }
  DeviceBuffer partials(backend, static_cast<size_t>(outputs * plan.splits) * sizeof(Acc));
  launch_segments<kColumns>(Reduction<Task>{task, partials.as<Acc>(), plan.splits}, shape, plan, stream);
  finish_partials_kernel<<<blocks_for(ceil_div(outputs, kBlockSize / kWarpSize)), kBlockSize, 0, stream>>>(
      task, partials.as<Acc>(), outputs, plan.splits);
  TESSERA_CUDA_CHECK_LAUNCH(finish_partials_kernel);
}

// --- sums accumulated in f64 (u64 for integers, which wrap as PyTorch's), shared by sum and sum_losses

// Store: __device__ void operator()(int64_t out, sum_acc_t<T> total) const.
template <typename T, typename Store>
struct SumTask {
  using Acc = sum_acc_t<T>;
  const T* in;
  Store store_;
  __device__ Acc identity() const { return 0; }
  __device__ Acc combine(Acc a, Acc b) const { return a + b; }
  template <typename G>
  __device__ Acc reduce(const G& group, const Segment& s) const {
    const T* p = in + s.offset;
    Acc acc = 0;
    for (int64_t k = s.begin + group.lane(); k < s.end; k += group.width())
      acc += static_cast<Acc>(static_cast<acc_t<T>>(p[k * s.stride]));
    return group.reduce(acc, Plus{});
  }
  __device__ void store(int64_t out, Acc acc) const { store_(out, acc); }
};

// --- flat elementwise: f(i) for i in [0, n)

template <typename F>
__global__ void __launch_bounds__(kBlockSize) for_each_kernel(F f, int64_t n) {
  TESSERA_GRID_STRIDE_LOOP(i, n) f(i);
}

template <typename F>
void launch_for_each(const F& f, int64_t n, cudaStream_t stream) {
  if (n <= 0) return;
  for_each_kernel<<<grid_for(n), kBlockSize, 0, stream>>>(f, n);
  TESSERA_CUDA_CHECK_LAUNCH(for_each_kernel);
}

}  // namespace tessera::kernels::cuda::reduction
