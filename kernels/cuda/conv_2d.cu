// 2-D convolution on the GPU through cuDNN 9's legacy convolution API (cudnnConvolutionForward/BackwardData/
// BackwardFilter, still shipped in libcudnn_cnn; only marked deprecated, which warns only under
// CUDNN_WARN_DEPRECATED, not defined here). The bias and its gradient are our own kernels (conv_2d_bias.cu).
//
// Invariants:
//  - One cuDNN handle per GPU (kernels/cuda/per_device.h). A per-GPU mutex covers the handle (its stream is set
//    before every call), the plan cache and the calls: a plan's descriptor is switched to the chosen algorithm's
//    math type right before each call.
//  - A plan per (dtype, geometry): descriptors for x, w, y and the convolution, cross-checked against the
//    geometry's out_h/out_w, plus one algorithm per direction, chosen the first time that direction runs: cuDNN's
//    heuristics (cudnnGet*_v7) by default, measurement (cudnnFind*, which blocks the host once per shape) with
//    TESSERA_CUDNN_BENCHMARK=1, as torch.backends.cudnn.benchmark, except while the stream is being captured
//    (cudnnFind synchronises and allocates, which would invalidate the capture). The first algorithm that succeeds,
//    computes in full precision and needs at most kMaxWorkspaceBytes wins, deterministic ones first; if every one
//    needs more, the smallest. An algorithm the search offered that then refuses the call (CUDNN_STATUS_NOT_SUPPORTED:
//    seen with grouped, dilated or half-precision descriptors; a pointer it cannot take at that alignment) is
//    struck from the plan and the next one is tried, as PyTorch does.
//  - Full precision: f32 convolutions run with CUDNN_FMA_MATH (no TF32, which cuDNN's default math would allow
//    on Ampere and later), so results stay close to the CPU's, whatever math the algorithm search reports.
//    f64 takes the algorithm's own math type (FP64 tensor cores are IEEE double), never down-conversion.
//  - Workspaces come from the caching allocator and go back right after the call is queued: the allocator is
//    stream-ordered, so the next user of the block runs after the convolution.
//  - Empty tensors never reach cuDNN (it rejects zero-sized descriptors): an empty sum gives zeros (plus the bias).
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdio>
#include <climits>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <type_traits>
#include <unordered_map>
#include <vector>

#include "kernels/cuda/cuda_backend.h"
#include "kernels/cuda/conv_2d_bias.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/cudnn_check.h"
#include "kernels/cuda/per_device.h"

namespace tessera::kernels::cuda {

namespace {

constexpr size_t kMaxWorkspaceBytes = size_t(1) << 30;

bool benchmark_mode() {
  static const bool on = [] {
    const char* value = std::getenv("TESSERA_CUDNN_BENCHMARK");
    return value != nullptr && std::strcmp(value, "1") == 0;
  }();
  return on;
}

std::string describe(DType dtype, const Conv2dGeometry& g) {
  return ::tessera::detail::concat(dtype_name(dtype), " x (", g.batch, ", ", g.in_channels, ", ", g.in_h, ", ", g.in_w,
                        "), w (", g.out_channels, ", ", g.groups > 0 ? g.in_channels / g.groups : 0, ", ",
                        g.kernel_h, ", ", g.kernel_w, "), y (", g.batch, ", ", g.out_channels, ", ", g.out_h, ", ",
                        g.out_w, "), stride (", g.stride_h, ", ", g.stride_w, "), padding (", g.pad_h, ", ",
                        g.pad_w, "), dilation (", g.dilation_h, ", ", g.dilation_w, "), groups ", g.groups);
}

// --- plans

template <typename Algo>
struct Choice {
  Algo algo;
  cudnnMathType_t math;
  size_t workspace;
};

// Owns its descriptors (destroyed only when building it failed halfway: cached plans live forever).
struct ConvPlan {
  cudnnTensorDescriptor_t x = nullptr, y = nullptr;
  cudnnFilterDescriptor_t w = nullptr;
  cudnnConvolutionDescriptor_t conv = nullptr;
  std::optional<Choice<cudnnConvolutionFwdAlgo_t>> forward;
  std::optional<Choice<cudnnConvolutionBwdDataAlgo_t>> backward_data;
  std::optional<Choice<cudnnConvolutionBwdFilterAlgo_t>> backward_filter;
  std::vector<int> refused[3];  // per direction (Dir::index): algorithms that returned NOT_SUPPORTED when called
  std::vector<int> starved[3];  // per direction: algorithms whose workspace could not be allocated (see choose)
  std::string last_refusal[3];  // per direction: cuDNN's words on the latest refusal, for the error if all refuse
  bool none[3] = {};            // per direction: cuDNN has no algorithm at all (NoAlgorithm, remembered)

  ConvPlan() = default;
  ConvPlan(const ConvPlan&) = delete;
  ConvPlan& operator=(const ConvPlan&) = delete;
  ~ConvPlan() {
    if (conv) cudnnDestroyConvolutionDescriptor(conv);
    if (w) cudnnDestroyFilterDescriptor(w);
    if (y) cudnnDestroyTensorDescriptor(y);
    if (x) cudnnDestroyTensorDescriptor(x);
  }
};

struct PlanKey {
  DType dtype;
  Conv2dGeometry g;
  bool operator==(const PlanKey& other) const { return dtype == other.dtype && g == other.g; }
};

struct PlanKeyHash {
  size_t operator()(const PlanKey& key) const {
    return Conv2dGeometryHash()(key.g) * 31u + static_cast<size_t>(key.dtype);
  }
};

struct CudnnState {
  cudnnHandle_t handle = nullptr;
  std::mutex mutex;
  std::unordered_map<PlanKey, std::unique_ptr<ConvPlan>, PlanKeyHash> plans;

  CudnnState() { TESSERA_CUDNN_CHECK(cudnnCreate(&handle)); }
};

cudnnDataType_t cudnn_type(DType dtype) {
  switch (dtype) {
    case DType::f64: return CUDNN_DATA_DOUBLE;
    case DType::bf16: return CUDNN_DATA_BFLOAT16;
    case DType::f16: return CUDNN_DATA_HALF;
    default: return CUDNN_DATA_FLOAT;
  }
}
bool is_half(DType dtype) { return dtype == DType::bf16 || dtype == DType::f16; }

// What the convolution accumulates in: f32 for bf16/f16 data (cuDNN's PSEUDO_BFLOAT16/PSEUDO_HALF configurations,
// autocast's "f32 accumulation"), else the data type.
cudnnDataType_t compute_type(DType dtype) { return is_half(dtype) ? CUDNN_DATA_FLOAT : cudnn_type(dtype); }

// The math type a plan's descriptor holds while cuDNN searches: full precision; tensor cores for bf16/f16.
cudnnMathType_t search_math(DType dtype) {
  if (dtype == DType::f32) return CUDNN_FMA_MATH;
  return is_half(dtype) ? CUDNN_TENSOR_OP_MATH : CUDNN_DEFAULT_MATH;
}

// The element counts of x, w and y (any may be 0).
struct Counts {
  int64_t x, w, y;
};

Counts counts_of(const Conv2dGeometry& g) {
  const int64_t in_per_group = g.groups > 0 ? g.in_channels / g.groups : 0;
  const int64_t out_h = g.out_h > 0 ? g.out_h : 0, out_w = g.out_w > 0 ? g.out_w : 0;
  return {g.batch * g.in_channels * g.in_h * g.in_w, g.out_channels * in_per_group * g.kernel_h * g.kernel_w,
          g.batch * g.out_channels * out_h * out_w};
}

std::unique_ptr<ConvPlan> make_plan(DType dtype, const Conv2dGeometry& g) {
  auto as_int = [&](int64_t v, const char* what, int64_t lowest = 1) {
    TESSERA_CHECK(v >= lowest && v <= INT_MAX, "conv2d (cuDNN): ", what, " = ", v, " is out of cuDNN's range for ",
                  describe(dtype, g));
    return static_cast<int>(v);
  };
  const int n = as_int(g.batch, "batch"), c = as_int(g.in_channels, "in_channels"), h = as_int(g.in_h, "in_h"),
            w = as_int(g.in_w, "in_w"), oc = as_int(g.out_channels, "out_channels"),
            groups = as_int(g.groups, "groups"), oh = as_int(g.out_h, "out_h"), ow = as_int(g.out_w, "out_w");
  // cuDNN's legacy API indexes tensors in 32 bits (PyTorch splits the batch for it, split_batch_dim_to_32bit_out):
  // say so here rather than have every algorithm refuse and report "no full-precision algorithm".
  const Counts counts = counts_of(g);
  TESSERA_CHECK(std::max({counts.x, counts.w, counts.y}) <= INT_MAX, "conv2d (cuDNN): a tensor of more than 2^31 - 1 ",
                "elements is beyond cuDNN's legacy API (split the batch): ", describe(dtype, g));
  const cudnnDataType_t type = cudnn_type(dtype);
  auto plan = std::make_unique<ConvPlan>();
  TESSERA_CUDNN_CHECK(cudnnCreateTensorDescriptor(&plan->x));
  TESSERA_CUDNN_CHECK(cudnnSetTensor4dDescriptor(plan->x, CUDNN_TENSOR_NCHW, type, n, c, h, w));
  TESSERA_CUDNN_CHECK(cudnnCreateTensorDescriptor(&plan->y));
  TESSERA_CUDNN_CHECK(cudnnSetTensor4dDescriptor(plan->y, CUDNN_TENSOR_NCHW, type, n, oc, oh, ow));
  TESSERA_CUDNN_CHECK(cudnnCreateFilterDescriptor(&plan->w));
  TESSERA_CUDNN_CHECK(cudnnSetFilter4dDescriptor(plan->w, type, CUDNN_TENSOR_NCHW, oc, c / groups,
                                                 as_int(g.kernel_h, "kernel_h"), as_int(g.kernel_w, "kernel_w")));
  TESSERA_CUDNN_CHECK(cudnnCreateConvolutionDescriptor(&plan->conv));
  TESSERA_CUDNN_CHECK(cudnnSetConvolution2dDescriptor(
      plan->conv, as_int(g.pad_h, "pad_h", 0), as_int(g.pad_w, "pad_w", 0), as_int(g.stride_h, "stride_h"),
      as_int(g.stride_w, "stride_w"), as_int(g.dilation_h, "dilation_h"), as_int(g.dilation_w, "dilation_w"),
      CUDNN_CROSS_CORRELATION, compute_type(dtype)));
  TESSERA_CUDNN_CHECK(cudnnSetConvolutionGroupCount(plan->conv, groups));
  TESSERA_CUDNN_CHECK(cudnnSetConvolutionMathType(plan->conv, search_math(dtype)));
  int yn = 0, yc = 0, yh = 0, yw = 0;
  TESSERA_CUDNN_CHECK(cudnnGetConvolution2dForwardOutputDim(plan->conv, plan->x, plan->w, &yn, &yc, &yh, &yw));
  TESSERA_CHECK(yn == n && yc == oc && yh == oh && yw == ow, "conv2d (cuDNN): cuDNN computes y (", yn, ", ", yc, ", ",
                yh, ", ", yw, ") for ", describe(dtype, g));
  return plan;
}

// --- algorithm choice, one traits struct per direction

struct Forward {
  static constexpr int index = 0;
  using Perf = cudnnConvolutionFwdAlgoPerf_t;
  static constexpr const char* name = "forward";
  static auto& slot(ConvPlan& p) { return p.forward; }
  static cudnnStatus_t max_count(cudnnHandle_t h, int* count) {
    return cudnnGetConvolutionForwardAlgorithmMaxCount(h, count);
  }
  static cudnnStatus_t heuristics(cudnnHandle_t h, const ConvPlan& p, int requested, int* returned, Perf* perf) {
    return cudnnGetConvolutionForwardAlgorithm_v7(h, p.x, p.w, p.conv, p.y, requested, returned, perf);
  }
  static cudnnStatus_t find(cudnnHandle_t h, const ConvPlan& p, int requested, int* returned, Perf* perf) {
    return cudnnFindConvolutionForwardAlgorithm(h, p.x, p.w, p.conv, p.y, requested, returned, perf);
  }
  static cudnnStatus_t workspace(cudnnHandle_t h, const ConvPlan& p, cudnnConvolutionFwdAlgo_t algo, size_t* bytes) {
    return cudnnGetConvolutionForwardWorkspaceSize(h, p.x, p.w, p.conv, p.y, algo, bytes);
  }
};

struct BackwardData {
  static constexpr int index = 1;
  using Perf = cudnnConvolutionBwdDataAlgoPerf_t;
  static constexpr const char* name = "backward-data";
  static auto& slot(ConvPlan& p) { return p.backward_data; }
  static cudnnStatus_t max_count(cudnnHandle_t h, int* count) {
    return cudnnGetConvolutionBackwardDataAlgorithmMaxCount(h, count);
  }
  static cudnnStatus_t heuristics(cudnnHandle_t h, const ConvPlan& p, int requested, int* returned, Perf* perf) {
    return cudnnGetConvolutionBackwardDataAlgorithm_v7(h, p.w, p.y, p.conv, p.x, requested, returned, perf);
  }
  static cudnnStatus_t find(cudnnHandle_t h, const ConvPlan& p, int requested, int* returned, Perf* perf) {
    return cudnnFindConvolutionBackwardDataAlgorithm(h, p.w, p.y, p.conv, p.x, requested, returned, perf);
  }
  static cudnnStatus_t workspace(cudnnHandle_t h, const ConvPlan& p, cudnnConvolutionBwdDataAlgo_t algo,
                                 size_t* bytes) {
    return cudnnGetConvolutionBackwardDataWorkspaceSize(h, p.w, p.y, p.conv, p.x, algo, bytes);
  }
};

struct BackwardFilter {
  static constexpr int index = 2;
  using Perf = cudnnConvolutionBwdFilterAlgoPerf_t;
  static constexpr const char* name = "backward-filter";
  static auto& slot(ConvPlan& p) { return p.backward_filter; }
  static cudnnStatus_t max_count(cudnnHandle_t h, int* count) {
    return cudnnGetConvolutionBackwardFilterAlgorithmMaxCount(h, count);
  }
  static cudnnStatus_t heuristics(cudnnHandle_t h, const ConvPlan& p, int requested, int* returned, Perf* perf) {
    return cudnnGetConvolutionBackwardFilterAlgorithm_v7(h, p.x, p.y, p.conv, p.w, requested, returned, perf);
  }
  static cudnnStatus_t find(cudnnHandle_t h, const ConvPlan& p, int requested, int* returned, Perf* perf) {
    return cudnnFindConvolutionBackwardFilterAlgorithm(h, p.x, p.y, p.conv, p.w, requested, returned, perf);
  }
  static cudnnStatus_t workspace(cudnnHandle_t h, const ConvPlan& p, cudnnConvolutionBwdFilterAlgo_t algo,
                                 size_t* bytes) {
    return cudnnGetConvolutionBackwardFilterWorkspaceSize(h, p.x, p.y, p.conv, p.w, algo, bytes);
  }
};

// An algorithm's refusal of a call: cuDNN 9's whole "not supported" category (3000-3999) or the one code of older
// versions; and a pointer it cannot take at its alignment (cuDNN 9; a view at an odd element offset), which the
// search never saw (PyTorch keys its plans on alignment for this).
// Not the codes of that category that say the machine cannot run cuDNN at all (3005-3009: driver, runtime,
// architecture, a missing prerequisite or sub-library): every algorithm would be crossed out and the reason lost.
bool refused_by_algorithm(cudnnStatus_t status) {
#ifdef CUDNN_STATUS_CATEGORY
  if (static_cast<int>(status) >= 3005 && static_cast<int>(status) <= 3009) return false;
  return CUDNN_STATUS_CATEGORY(status) == CUDNN_STATUS_NOT_SUPPORTED ||
         status == CUDNN_STATUS_BAD_PARAM_MISALIGNED_POINTER;
#else
  return status == CUDNN_STATUS_NOT_SUPPORTED;
#endif
}

// cuDNN has no usable algorithm for a direction (none offered, or every one refused). Half precision then goes
// through f32 copies (WidenedOperands); other dtypes report it.
struct NoAlgorithm : ::tessera::Error {
  using Error::Error;
};

// f64 runs in the math the search reports, but never with down-conversion.
bool f64_math_allowed(cudnnMathType_t math) { return math != CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION; }

// TESSERA_CUDNN_LOG=1: each plan's algorithm per direction on stderr, once (the GPU checks set it, so a result off
// by more than the tolerance can be traced to, say, a Winograd or FFT algorithm).
void log_choice(const char* direction, DType dtype, const Conv2dGeometry& g, int algo, cudnnMathType_t math,
                size_t workspace) {
  static const bool on = [] {
    const char* value = std::getenv("TESSERA_CUDNN_LOG");
    return value != nullptr && std::strcmp(value, "1") == 0;
  }();
  if (on)
    std::fprintf(stderr, "tessera: cuDNN %s algorithm %d (math type %d, workspace %zu bytes) for %s\n", direction,
                 algo, static_cast<int>(math), workspace, describe(dtype, g).c_str());
}

// The plan's algorithm for Dir, chosen on first use (see the invariants).
template <typename Dir>
const auto& choose(cudnnHandle_t handle, DType dtype, const Conv2dGeometry& g, ConvPlan& plan) {
  auto& slot = Dir::slot(plan);
  if (slot) return *slot;
  const auto no_algorithm = [&] {
    return NoAlgorithm(::tessera::detail::concat("conv2d (cuDNN): no full-precision ", Dir::name, " algorithm for ",
                                                 describe(dtype, g),
                                                 plan.last_refusal[Dir::index].empty() ? "" : "; the last one called "
                                                 "refused: ", plan.last_refusal[Dir::index]),
                       __FILE__, __LINE__);
  };
  if (plan.none[Dir::index]) throw no_algorithm();  // searched once, not at every step
  using Perf = typename Dir::Perf;
  int max_count = 0;
  TESSERA_CUDNN_CHECK(Dir::max_count(handle, &max_count));
  std::vector<Perf> perfs(static_cast<size_t>(max_count > 0 ? max_count : 1));
  int returned = 0;
  TESSERA_CUDNN_CHECK(cudnnSetConvolutionMathType(plan.conv, search_math(dtype)));
  cudaStream_t stream = nullptr;
  TESSERA_CUDNN_CHECK(cudnnGetStream(handle, &stream));
  cudaStreamCaptureStatus capture = cudaStreamCaptureStatusNone;
  TESSERA_CUDA_CHECK(cudaStreamIsCapturing(stream, &capture));
  // cudnnFind allocates its own buffers with cudaMalloc, outside the caching allocator, which may hold most of the
  // GPU: a failed measurement falls back to the heuristics instead of failing the convolution.
  const bool find = benchmark_mode() && capture == cudaStreamCaptureStatusNone;
  const bool measured =
      find && Dir::find(handle, plan, static_cast<int>(perfs.size()), &returned, perfs.data()) == CUDNN_STATUS_SUCCESS;
  if (!measured) {
    if (find) {  // it failed: its cudaMalloc's error cleared (the next launch check would misreport it), math reset
      (void)cudaGetLastError();
      returned = 0;
      TESSERA_CUDNN_CHECK(cudnnSetConvolutionMathType(plan.conv, search_math(dtype)));
    }
    TESSERA_CUDNN_CHECK(Dir::heuristics(handle, plan, static_cast<int>(perfs.size()), &returned, perfs.data()));
  }

  using Entry = typename std::remove_reference_t<decltype(slot)>::value_type;
  // The algorithm as it would run, or nothing where it cannot.
  const auto usable = [&](const Perf& perf) -> std::optional<Entry> {
    // f32 always runs in FMA math (set below), whatever math the search reported for the algorithm: cuDNN 9 may
    // report tensor-op math for every f32 algorithm; one that cannot run in FMA fails its workspace query here.
    if (perf.status != CUDNN_STATUS_SUCCESS) return std::nullopt;
    for (const auto* struck : {&plan.refused[Dir::index], &plan.starved[Dir::index]})
      if (std::find(struck->begin(), struck->end(), static_cast<int>(perf.algo)) != struck->end()) return std::nullopt;
    if (dtype == DType::f64 && !f64_math_allowed(perf.mathType)) return std::nullopt;
    const cudnnMathType_t math = dtype == DType::f32 ? CUDNN_FMA_MATH : perf.mathType;
    size_t bytes = 0;
    if (cudnnSetConvolutionMathType(plan.conv, math) != CUDNN_STATUS_SUCCESS ||
        Dir::workspace(handle, plan, perf.algo, &bytes) != CUDNN_STATUS_SUCCESS)
      return std::nullopt;
    return Entry{perf.algo, math, bytes};
  };
  std::optional<Entry> smallest;  // the fallback when every algorithm wants more than kMaxWorkspaceBytes
  // Deterministic algorithms first (the same step gives the same bits: CUDA-graph replays equal eager steps, a
  // rerun repeats); one that adds with atomics only where no deterministic one runs within the workspace limit.
  for (const bool deterministic_only : {true, false}) {
    for (int i = 0; i < returned && i < static_cast<int>(perfs.size()); ++i) {
      if (deterministic_only && perfs[i].determinism != CUDNN_DETERMINISTIC) continue;
      const std::optional<Entry> entry = usable(perfs[i]);
      if (!entry) continue;
      if (entry->workspace <= kMaxWorkspaceBytes) {
        slot = entry;
        log_choice(Dir::name, dtype, g, static_cast<int>(slot->algo), slot->math, slot->workspace);
        return *slot;
      }
      if (!smallest || entry->workspace < smallest->workspace) smallest = entry;
    }
  }
  if (!smallest && !plan.starved[Dir::index].empty()) {
    // Only out of memory: an error saying so (not NoAlgorithm: f32 copies would need more), and every algorithm a
    // candidate again for the next call.
    plan.starved[Dir::index].clear();
    TESSERA_THROW("conv2d (cuDNN): out of memory for the workspace of every ", Dir::name, " algorithm for ",
                  describe(dtype, g), ": ", plan.last_refusal[Dir::index]);
  }
  if (!smallest) {
    plan.none[Dir::index] = true;
    throw no_algorithm();
  }
  slot = smallest;
  log_choice(Dir::name, dtype, g, static_cast<int>(slot->algo), slot->math, slot->workspace);
  return *slot;
}

// --- calls

// cuDNN's status text, and its detailed last-error message on this thread when it left one.
std::string status_words(cudnnStatus_t status) {
  char detail[512] = {};
  cudnnGetLastErrorString(detail, sizeof(detail));
  return ::tessera::detail::concat(cudnnGetErrorString(status), detail[0] ? " (" : "", detail, detail[0] ? ")" : "");
}

// A workspace from the caching allocator, returned when the call is queued.
class Workspace {
 public:
  Workspace(CudaBackend& backend, size_t bytes)
      : backend_(backend), bytes_(bytes), data_(bytes > 0 ? backend.allocate(bytes) : nullptr) {}
  Workspace(const Workspace&) = delete;
  Workspace& operator=(const Workspace&) = delete;
  ~Workspace() {
    if (data_) backend_.deallocate(data_, bytes_);
  }
  void* data() const { return data_; }
  size_t bytes() const { return bytes_; }

 private:
  CudaBackend& backend_;
  size_t bytes_;
  void* data_;
};

// cuDNN 9 checks operand alignment (CUDNN_STATUS_BAD_PARAM_MISALIGNED_POINTER; 7.x documented 4 bytes at least, f16
// included): an operand not 16-byte aligned (a view at an odd element offset) goes through a block of the caching
// allocator (512-byte aligned), copied in for an input, back for an output, so the plans, chosen once per shape,
// never meet such a pointer (PyTorch keys its plans on alignment instead).
class AlignedOperand {
 public:
  AlignedOperand(CudaBackend& backend, const void* data, size_t bytes, bool input)
      : data_(const_cast<void*>(data)), block_(backend, reinterpret_cast<uintptr_t>(data) % 16 ? bytes : 0) {
    if (block_.data() && input) backend.copy(block_.data(), data, bytes);
  }
  void* get() const { return block_.data() ? block_.data() : data_; }
  void write_back(CudaBackend& backend) const {  // an output: into the caller's memory, after the call
    if (block_.data()) backend.copy(data_, block_.data(), block_.bytes());
  }

 private:
  void* data_;
  Workspace block_;
};

// f32 copies of bf16/f16 operands, for a direction cuDNN has no half-precision algorithm for (PyTorch never runs
// bf16 on the legacy API we use, so its coverage is unproven): inputs converted, the f32 convolution run on the
// copies, each output rounded back once, as the CPU does for geometries oneDNN lacks. Slower, and said once per
// geometry and direction on stderr (launch/gpu/build_and_test.sh counts those lines).
class WidenedOperands {
 public:
  WidenedOperands(CudaBackend& backend, DType dtype) : backend_(backend), dtype_(dtype) {}
  WidenedOperands(const WidenedOperands&) = delete;
  WidenedOperands& operator=(const WidenedOperands&) = delete;
  ~WidenedOperands() {  // stream-ordered: the blocks are reused only after the queued work
    for (const auto& [data, count] : blocks_) backend_.deallocate(data, static_cast<size_t>(count) * sizeof(float));
  }
  const void* in(const void* data, int64_t count) {  // null stays null
    if (data == nullptr) return nullptr;
    void* copy = block(count);
    convert(copy, DType::f32, data, dtype_, count);
    return copy;
  }
  void* out(void* data, int64_t count) {
    if (data == nullptr) return nullptr;
    void* result = block(count);
    outputs_.push_back({data, result, count});
    return result;
  }
  void finish() {
    for (const Output& o : outputs_) convert(o.to, dtype_, o.from, DType::f32, o.count);
  }

  // Inside the handler of `e`: rethrows it for f32/f64, else says once per (dtype, geometry, direction) that the
  // direction goes through f32 copies.
  static void accept(const NoAlgorithm& e, DType dtype, const Conv2dGeometry& g, const char* direction) {
    if (!is_half(dtype)) throw;
    static std::mutex mutex;
    static std::set<std::string> said;
    const std::string what = describe(dtype, g) + " " + direction;
    std::lock_guard<std::mutex> lock(mutex);
    if (!said.insert(what).second) return;
    std::fprintf(stderr, "tessera: cuDNN has no half-precision algorithm for %s (%s); computing it in f32\n",
                 what.c_str(), e.message().c_str());
  }

 private:
  struct Output {
    void* to;
    const void* from;
    int64_t count;
  };
  void* block(int64_t count) {
    void* data = backend_.allocate(static_cast<size_t>(count) * sizeof(float));
    blocks_.emplace_back(data, count);
    return data;
  }
  void convert(void* to, DType to_type, const void* from, DType from_type, int64_t count) {
    LoopShape loop;
    loop.ndim = 1;
    loop.sizes[0] = count;
    StridedArg out{to, to_type, {1}}, in{const_cast<void*>(from), from_type, {1}};
    backend_.unary(UnaryOp::copy, loop, out, in, OpScalars{});
  }

  CudaBackend& backend_;
  DType dtype_;
  std::vector<std::pair<void*, int64_t>> blocks_;
  std::vector<Output> outputs_;
};

// The state of the calling thread's GPU, locked, with its handle on the current stream, and the plan of one
// convolution.
class Session {
 public:
  Session(CudaBackend& backend, DType dtype, const Conv2dGeometry& g)
      : backend_(backend),
        stream_(backend.stream()),  // first: makes the device current for the handle
        state_(per_device<CudnnState>(backend.device())),
        lock_(state_.mutex),
        dtype_(dtype),
        g_(g) {
    TESSERA_CUDNN_CHECK(cudnnSetStream(state_.handle, stream_));
    auto it = state_.plans.find(PlanKey{dtype, g});
    if (it == state_.plans.end()) it = state_.plans.emplace(PlanKey{dtype, g}, make_plan(dtype, g)).first;
    plan_ = it->second.get();
  }

  cudnnHandle_t handle() const { return state_.handle; }
  const ConvPlan& plan() const { return *plan_; }

  // Dir's algorithm, with the descriptor switched to its math type for the call that follows.
  template <typename Dir>
  const auto& prepare() {
    const auto& choice = choose<Dir>(state_.handle, dtype_, g_, *plan_);
    TESSERA_CUDNN_CHECK(cudnnSetConvolutionMathType(plan_->conv, choice.math));
    return choice;
  }

  // call(choice, workspace) -> cudnnStatus_t, with Dir's algorithm; the next algorithm when it is refused.
  template <typename Dir, typename Call>
  void run(Call&& call) {
    while (true) {
      const auto& choice = prepare<Dir>();
      std::optional<Workspace> workspace;
      try {
        workspace.emplace(backend_, choice.workspace);
      } catch (const ::tessera::Error& e) {
        // Out of memory: the next algorithm may need less. The one that succeeds stays the plan's choice (as
        // PyTorch's try_all caches its winner); the starved ones are tried again only if none is left (choose).
        plan_->starved[Dir::index].push_back(static_cast<int>(choice.algo));
        plan_->last_refusal[Dir::index] = e.what();
        Dir::slot(*plan_).reset();
        continue;
      }
      const cudnnStatus_t status = call(choice, *workspace);
      if (status == CUDNN_STATUS_SUCCESS) return;
      // cuDNN 9 refines NOT_SUPPORTED into codes of its category (_SHAPE, _SHARED_MEMORY_INSUFFICIENT, ...).
      std::string words = status_words(status);
      TESSERA_CHECK(refused_by_algorithm(status), "conv2d (cuDNN): the ", Dir::name, " call with algorithm ",
                    static_cast<int>(choice.algo), " (math type ", static_cast<int>(choice.math), ") failed for ",
                    describe(dtype_, g_), ": ", words);
      plan_->refused[Dir::index].push_back(static_cast<int>(choice.algo));
      plan_->last_refusal[Dir::index] = std::move(words);
      Dir::slot(*plan_).reset();
    }
  }

 private:
  CudaBackend& backend_;
  cudaStream_t stream_;
  CudnnState& state_;
  std::lock_guard<std::mutex> lock_;
  DType dtype_;
  Conv2dGeometry g_;
  ConvPlan* plan_ = nullptr;
};

// cuDNN's alpha = 1 and beta = 0 (overwrite), in the scaling type: double for double data, float otherwise.
const void* one(DType dtype) {
  static const float one_f = 1.0f;
  static const double one_d = 1.0;
  return dtype == DType::f64 ? static_cast<const void*>(&one_d) : &one_f;
}
const void* zero(DType dtype) {
  static const float zero_f = 0.0f;
  static const double zero_d = 0.0;
  return dtype == DType::f64 ? static_cast<const void*>(&zero_d) : &zero_f;
}

// f32 and f64 as the CPU's; bf16 and f16 too on the GPU (tensor cores, f32 accumulation), where core sends them
// natively (the CPU computes them in f32).
template <typename F>
void dispatch_conv(DType dtype, const char* op, F&& f) {
  if (dtype == DType::f32) return f.template operator()<float>();
  if (dtype == DType::f64) return f.template operator()<double>();
  if (dtype == DType::bf16) return f.template operator()<bf16>();
  if (dtype == DType::f16) return f.template operator()<f16>();
  TESSERA_THROW(op, ": expected f32, f64, bf16 or f16 buffers, got ", dtype_name(dtype));
}

}  // namespace

void CudaBackend::conv2d_forward(DType dtype, const Conv2dGeometry& g, const void* x, const void* w, const void* b,
                                 void* y, bool relu) {
  dispatch_conv(dtype, "conv2d", [&]<typename T>() {
    const Counts n = counts_of(g);
    if (n.y == 0) return;
    if (n.x == 0 || n.w == 0) {  // every output is an empty sum
      memset_zero(y, static_cast<size_t>(n.y) * sizeof(T));
    } else {
      try {
        const AlignedOperand ax(*this, x, n.x * sizeof(T), true), aw(*this, w, n.w * sizeof(T), true),
            ay(*this, y, n.y * sizeof(T), false);
        Session session(*this, dtype, g);
        const ConvPlan& p = session.plan();
        session.run<Forward>([&](const auto& algo, Workspace& workspace) {
          return cudnnConvolutionForward(session.handle(), one(dtype), p.x, ax.get(), p.w, aw.get(), p.conv,
                                         algo.algo, workspace.data(), workspace.bytes(), zero(dtype), p.y, ay.get());
        });
        ay.write_back(*this);
      } catch (const NoAlgorithm& e) {
        WidenedOperands::accept(e, dtype, g, "forward");
        WidenedOperands f32(*this, dtype);
        conv2d_forward(DType::f32, g, f32.in(x, n.x), f32.in(w, n.w), nullptr, f32.out(y, n.y), false);
        f32.finish();
      }
    }
    if (b != nullptr || relu) add_conv_bias(dtype, g, y, b, relu, stream());
  });
}

void CudaBackend::conv2d_backward(DType dtype, const Conv2dGeometry& g, const void* x, const void* gy, const void* w,
                                  void* gx, void* gw, void* gb) {
  dispatch_conv(dtype, "conv2d backward", [&]<typename T>() {
    const Counts n = counts_of(g);
    const bool nonempty = n.x > 0 && n.w > 0 && n.y > 0;
    // A gradient of a product with an empty factor is zero.
    if (gx != nullptr && n.x > 0 && !nonempty) memset_zero(gx, static_cast<size_t>(n.x) * sizeof(T));
    if (gw != nullptr && n.w > 0 && !nonempty) memset_zero(gw, static_cast<size_t>(n.w) * sizeof(T));
    if (nonempty && (gx != nullptr || gw != nullptr)) {
      const AlignedOperand ay(*this, gy, n.y * sizeof(T), true);
      const AlignedOperand ax(*this, gw ? x : nullptr, n.x * sizeof(T), true), agx(*this, gx, n.x * sizeof(T), false);
      const AlignedOperand aw(*this, gx ? w : nullptr, n.w * sizeof(T), true), agw(*this, gw, n.w * sizeof(T), false);
      bool widen_gx = false, widen_gw = false;  // directions cuDNN has no half-precision algorithm for
      {
        Session session(*this, dtype, g);
        const ConvPlan& p = session.plan();
        if (gx != nullptr) {
          try {
            session.run<BackwardData>([&](const auto& algo, Workspace& workspace) {
              return cudnnConvolutionBackwardData(session.handle(), one(dtype), p.w, aw.get(), p.y, ay.get(), p.conv,
                                                  algo.algo, workspace.data(), workspace.bytes(), zero(dtype), p.x,
                                                  agx.get());
            });
            agx.write_back(*this);
          } catch (const NoAlgorithm& e) {
            WidenedOperands::accept(e, dtype, g, "backward-data");
            widen_gx = true;
          }
        }
        if (gw != nullptr) {
          try {
            session.run<BackwardFilter>([&](const auto& algo, Workspace& workspace) {
              return cudnnConvolutionBackwardFilter(session.handle(), one(dtype), p.x, ax.get(), p.y, ay.get(),
                                                    p.conv, algo.algo, workspace.data(), workspace.bytes(),
                                                    zero(dtype), p.w, agw.get());
            });
            agw.write_back(*this);
          } catch (const NoAlgorithm& e) {
            WidenedOperands::accept(e, dtype, g, "backward-filter");
            widen_gw = true;
          }
        }
      }
      if (widen_gx || widen_gw) {  // after the session: the f32 convolution takes the GPU's lock itself
        WidenedOperands f32(*this, dtype);
        conv2d_backward(DType::f32, g, widen_gw ? f32.in(x, n.x) : nullptr, f32.in(gy, n.y),
                        widen_gx ? f32.in(w, n.w) : nullptr, widen_gx ? f32.out(gx, n.x) : nullptr,
                        widen_gw ? f32.out(gw, n.w) : nullptr, nullptr);
        f32.finish();
      }
    }
    if (gb != nullptr) conv_bias_grad(dtype, g, gy, gb, stream());
  });
}

}  // namespace tessera::kernels::cuda
