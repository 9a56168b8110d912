// GEMM on the GPU through cuBLASLt (kernels/cuda/cublaslt_gemm.h); CudaBackend::gemm on top of it is in
// gemm_entry.cu.
//
// Invariants:
//  - One cuBLASLt handle per GPU, created on first use and never destroyed (kernels/cuda/per_device.h).
//  - A plan (matmul descriptor, the three layouts, the heuristic's algorithm) is cached per shape, dtypes,
//    transposes, leading dimensions, epilogue and operand alignment, so a training loop's repeated shapes never
//    query the heuristic again. Alignment is in the key because the heuristic may pick kernels that need 16-byte
//    or wider alignment, and operands can be views at any element offset (bmm's per-batch slices).
//  - The workspace is one kWorkspaceBytes block per stream, taken from the caching allocator once and kept: a
//    block belongs to one stream, and work on one stream runs in order, so reuse needs no event. A side stream's
//    goes back when the stream is destroyed (release_gemm_workspace).
//  - A per-GPU mutex covers the cache, the workspaces and the call (the bias pointer is set on the cached
//    descriptor per call).
//  - A batch (bmm) is one call: each layout carries the batch count and its operand's stride between products.
//    Its operands' alignment is that of every product's pointer, the base's and the stride's together.
//  - k == 0 never reaches cuBLASLt (a zero-sized layout is invalid there): c = beta * c (+ epilogue) by a kernel
//    (empty_product, gemm_entry.cu).
#include <cuda_runtime.h>

#include <cstdio>
#include <limits>
#include <memory>
#include <mutex>
#include <string>
#include <type_traits>
#include <unordered_map>

#include "kernels/cuda/cublaslt_gemm.h"
#include "kernels/cuda/cuda_backend.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/per_device.h"

namespace tessera::kernels::cuda {

namespace {

constexpr size_t kWorkspaceBytes = size_t(32) << 20;  // cuBLAS's own default on Hopper

cudaDataType_t cuda_type(DType dtype) {
  switch (dtype) {
    case DType::f32: return CUDA_R_32F;
    case DType::f64: return CUDA_R_64F;
    case DType::bf16: return CUDA_R_16BF;
    case DType::f16: return CUDA_R_16F;
    default: TESSERA_THROW("gemm (cuBLASLt): unsupported dtype ", dtype_name(dtype));
  }
}

void check_dtypes(const LtGemm& g) {
  const bool same = g.ab_dtype == g.c_dtype && (g.ab_dtype == DType::f32 || g.ab_dtype == DType::f64 ||
                                                  g.ab_dtype == DType::bf16 || g.ab_dtype == DType::f16);
  const bool widened = (g.ab_dtype == DType::bf16 || g.ab_dtype == DType::f16) && g.c_dtype == DType::f32;
  TESSERA_CHECK(same || widened, "gemm (cuBLASLt): unsupported operand/result dtypes ", dtype_name(g.ab_dtype), "/",
                dtype_name(g.c_dtype));
}

// The largest power of two (up to 256, cuBLASLt's default assumption) dividing the address and, in a batch, the
// stride in bytes to the next product's operand (so every product's address); 256 for a null address alone.
uint32_t alignment_of(const void* p, int64_t stride_bytes = 0) {
  const uintptr_t address = reinterpret_cast<uintptr_t>(p) | static_cast<uintptr_t>(stride_bytes);
  uint32_t alignment = 256;
  while (alignment > 1 && address % alignment != 0) alignment /= 2;
  return alignment;
}

struct PlanKey {
  DType ab, c;
  GemmEpilogue epilogue;
  bool trans_a, trans_b;
  int64_t m, n, k, lda, ldb, ldc;
  int64_t batch, stride_a, stride_b, stride_c;
  uint32_t align_a, align_b, align_c, align_bias;
  bool operator==(const PlanKey&) const = default;
};

struct PlanKeyHash {
  size_t operator()(const PlanKey& key) const {
    size_t h = static_cast<size_t>(key.ab) | static_cast<size_t>(key.c) << 8 |
               static_cast<size_t>(key.epilogue) << 16 | static_cast<size_t>(key.trans_a) << 24 |
               static_cast<size_t>(key.trans_b) << 25;
    for (int64_t v : {key.m, key.n, key.k, key.lda, key.ldb, key.ldc, key.batch, key.stride_a, key.stride_b,
                      key.stride_c,
                      int64_t{key.align_a} | int64_t{key.align_b} << 16 | int64_t{key.align_c} << 32 |
                          int64_t{key.align_bias} << 48})
      h = h * 1000003u ^ std::hash<int64_t>()(v);
    return h;
  }
};

// Owns its cuBLASLt objects (destroyed only when building it failed halfway: cached plans live forever).
struct Plan {
  cublasLtMatmulDesc_t desc = nullptr;
  cublasLtMatrixLayout_t a = nullptr, b = nullptr, c = nullptr;  // cuBLASLt's A, B, C/D: our b, a, c
  cublasLtMatmulAlgo_t algo{};
  bool refused = false;  // cuBLASLt has no algorithm for these operands (lt_gemm returns false)

  Plan() = default;
  Plan(const Plan&) = delete;
  Plan& operator=(const Plan&) = delete;
  ~Plan() {
    for (cublasLtMatrixLayout_t layout : {a, b, c})
      if (layout) cublasLtMatrixLayoutDestroy(layout);
    if (desc) cublasLtMatmulDescDestroy(desc);
  }
};

struct PreferenceGuard {
  cublasLtMatmulPreference_t pref = nullptr;
  ~PreferenceGuard() {
    if (pref) cublasLtMatmulPreferenceDestroy(pref);
  }
};

template <typename V>
void set_desc(cublasLtMatmulDesc_t desc, cublasLtMatmulDescAttributes_t attribute, const V& value) {
  TESSERA_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(desc, attribute, &value, sizeof(value)));
}

template <typename V>
void set_pref(cublasLtMatmulPreference_t pref, cublasLtMatmulPreferenceAttributes_t attribute, const V& value) {
  TESSERA_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref, attribute, &value, sizeof(value)));
}

// A row-major operand as cuBLASLt sees it: the stored matrix transposed into column-major. A row-major r x c
// matrix with row stride ld is a column-major c x r one with leading dimension ld.
// In a batch, each layout also says how many products there are and how far apart its operands lie (in elements).
void create_layout(cublasLtMatrixLayout_t* layout, DType dtype, int64_t stored_rows, int64_t stored_cols, int64_t ld,
                   int64_t batch, int64_t stride) {
  TESSERA_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(layout, cuda_type(dtype), static_cast<uint64_t>(stored_cols),
                                                  static_cast<uint64_t>(stored_rows), ld));
  if (batch == 1) return;
  const int32_t count = static_cast<int32_t>(batch);
  TESSERA_CUBLAS_CHECK(
      cublasLtMatrixLayoutSetAttribute(*layout, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &count, sizeof(count)));
  TESSERA_CUBLAS_CHECK(
      cublasLtMatrixLayoutSetAttribute(*layout, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, &stride, sizeof(stride)));
}

struct DeviceState {
  cublasLtHandle_t handle = nullptr;
  std::mutex mutex;
  std::unordered_map<PlanKey, std::unique_ptr<Plan>, PlanKeyHash> plans;
  std::unordered_map<cudaStream_t, void*> workspaces;

  DeviceState() { TESSERA_CUBLAS_CHECK(cublasLtCreate(&handle)); }
};

std::unique_ptr<Plan> make_plan(cublasLtHandle_t handle, const PlanKey& key, const LtGemm& g) {
  auto plan = std::make_unique<Plan>();
  const bool f64 = g.ab_dtype == DType::f64;
  TESSERA_CUBLAS_CHECK(cublasLtMatmulDescCreate(&plan->desc, f64 ? CUBLAS_COMPUTE_64F : CUBLAS_COMPUTE_32F,
                                                f64 ? CUDA_R_64F : CUDA_R_32F));
  // c^T = op(b)^T op(a)^T: cuBLASLt's A is our b, its B our a, each transposed exactly when ours is.
  set_desc(plan->desc, CUBLASLT_MATMUL_DESC_TRANSA, static_cast<int32_t>(g.b.transposed ? CUBLAS_OP_T : CUBLAS_OP_N));
  set_desc(plan->desc, CUBLASLT_MATMUL_DESC_TRANSB, static_cast<int32_t>(g.a.transposed ? CUBLAS_OP_T : CUBLAS_OP_N));
  if (g.epilogue != GemmEpilogue::none) {
    // Bias length = rows of cuBLASLt's D = n, so the bias runs along our columns: Linear's per-feature bias.
    set_desc(plan->desc, CUBLASLT_MATMUL_DESC_EPILOGUE, uint32_t{CUBLASLT_EPILOGUE_BIAS});
    set_desc(plan->desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, g.bias);
  }
  // Stored (row-major) shapes: a is m x k (k x m when transposed), b is k x n (n x k).
  const GemmBatch& batch = g.batch;
  create_layout(&plan->a, g.ab_dtype, g.b.transposed ? g.n : g.k, g.b.transposed ? g.k : g.n, g.b.ld, batch.count,
                batch.stride_b);
  create_layout(&plan->b, g.ab_dtype, g.a.transposed ? g.k : g.m, g.a.transposed ? g.m : g.k, g.a.ld, batch.count,
                batch.stride_a);
  create_layout(&plan->c, g.c_dtype, g.m, g.n, g.ldc, batch.count, batch.stride_c);

  PreferenceGuard pref;
  TESSERA_CUBLAS_CHECK(cublasLtMatmulPreferenceCreate(&pref.pref));
  set_pref(pref.pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, uint64_t{kWorkspaceBytes});
  set_pref(pref.pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, key.align_b);
  set_pref(pref.pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, key.align_a);
  set_pref(pref.pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, key.align_c);
  set_pref(pref.pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, key.align_c);
  // A split-K algorithm may keep its partial sums in the output type (INPLACE, OUTPUT_TYPE): for a bf16/f16 output
  // that is no longer f32 accumulation, so only schemes that reduce in the compute type (f32) are allowed there.
  if (element_size(g.c_dtype) == 2) {
    set_pref(pref.pref, CUBLASLT_MATMUL_PREF_REDUCTION_SCHEME_MASK,
             uint32_t{CUBLASLT_REDUCTION_SCHEME_NONE | CUBLASLT_REDUCTION_SCHEME_COMPUTE_TYPE});
  }

  cublasLtMatmulHeuristicResult_t result{};
  int returned = 0;
  // The heuristic may refuse a shape (PyTorch saw CUBLAS_STATUS_INVALID_VALUE for a dimension of 1): the plan
  // remembers it, and lt_gemm's caller computes such operands another way, which the log says once per plan (a
  // slow kernel; many such lines mean something is wrong). Any other failure is a broken setup: an error.
  const cublasStatus_t status = cublasLtMatmulAlgoGetHeuristic(handle, plan->desc, plan->a, plan->b, plan->c,
                                                                plan->c, pref.pref, 1, &result, &returned);
  if (status == CUBLAS_STATUS_SUCCESS && returned > 0 && result.state == CUBLAS_STATUS_SUCCESS) {
    plan->algo = result.algo;
    return plan;
  }
  if (status != CUBLAS_STATUS_SUCCESS && status != CUBLAS_STATUS_NOT_SUPPORTED && status != CUBLAS_STATUS_INVALID_VALUE)
    TESSERA_CUBLAS_CHECK(status);
  plan->refused = true;
  std::fprintf(stderr,
               "tessera: cuBLASLt has no algorithm for a %s gemm m=%lld n=%lld k=%lld (batch %lld, %s); Tessera's own "
               "kernel computes it\n",
               dtype_name(g.ab_dtype), static_cast<long long>(g.m), static_cast<long long>(g.n),
               static_cast<long long>(g.k), static_cast<long long>(g.batch.count),
               status != CUBLAS_STATUS_SUCCESS ? cublasLtGetStatusName(status)
                                               : returned == 0 ? "none returned" : cublasLtGetStatusName(result.state));
  return plan;
}

void* workspace_for(DeviceState& state, CudaBackend& backend, cudaStream_t stream) {
  void*& workspace = state.workspaces[stream];
  if (workspace == nullptr) workspace = backend.allocate(kWorkspaceBytes);  // on `stream`, the current one
  return workspace;
}

}  // namespace

void release_gemm_workspace(CudaBackend& backend, cudaStream_t stream) {
  DeviceState& state = per_device<DeviceState>(backend.device());
  std::lock_guard<std::mutex> lock(state.mutex);
  auto it = state.workspaces.find(stream);
  if (it == state.workspaces.end()) return;
  backend.deallocate(it->second, kWorkspaceBytes);
  state.workspaces.erase(it);
}

bool lt_gemm(CudaBackend& backend, const LtGemm& g) {
  check_dtypes(g);
  TESSERA_CHECK(g.m >= 0 && g.n >= 0 && g.k >= 0, "gemm: negative size m=", g.m, " n=", g.n, " k=", g.k);
  TESSERA_CHECK(g.epilogue == GemmEpilogue::none || g.bias != nullptr, "gemm: a bias epilogue needs a bias");
  TESSERA_CHECK(g.batch.count == 1 || g.epilogue == GemmEpilogue::none, "gemm: a batch takes no epilogue");
  TESSERA_CHECK(g.batch.count <= std::numeric_limits<int32_t>::max(), "gemm: a batch of ", g.batch.count,
                " products is more than cuBLASLt counts (CudaBackend::gemm_batched splits batches)");
  if (g.m == 0 || g.n == 0 || g.batch.count == 0) return true;
  const cudaStream_t stream = backend.stream();  // also makes the device current for the handle
  if (g.k == 0) {
    empty_product(g, stream);
    return true;
  }

  const PlanKey key{g.ab_dtype,
                    g.c_dtype,
                    g.epilogue,
                    g.a.transposed,
                    g.b.transposed,
                    g.m,
                    g.n,
                    g.k,
                    g.a.ld,
                    g.b.ld,
                    g.ldc,
                    g.batch.count,
                    g.batch.stride_a,
                    g.batch.stride_b,
                    g.batch.stride_c,
                    alignment_of(g.a.data, g.batch.stride_a * static_cast<int64_t>(element_size(g.ab_dtype))),
                    alignment_of(g.b.data, g.batch.stride_b * static_cast<int64_t>(element_size(g.ab_dtype))),
                    alignment_of(g.c, g.batch.stride_c * static_cast<int64_t>(element_size(g.c_dtype))),
                    g.epilogue == GemmEpilogue::none ? 256u : alignment_of(g.bias)};
  DeviceState& state = per_device<DeviceState>(backend.device());
  std::lock_guard<std::mutex> lock(state.mutex);
  auto it = state.plans.find(key);
  if (it == state.plans.end()) it = state.plans.emplace(key, make_plan(state.handle, key, g)).first;
  Plan& plan = *it->second;
  if (plan.refused) return false;
  if (g.epilogue != GemmEpilogue::none) set_desc(plan.desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, g.bias);
  void* workspace = workspace_for(state, backend, stream);

  // alpha and beta in the scale type: double for f64, float otherwise.
  const float alpha32 = static_cast<float>(g.alpha), beta32 = static_cast<float>(g.beta);
  const bool f64 = g.ab_dtype == DType::f64;
  const void* alpha = f64 ? static_cast<const void*>(&g.alpha) : &alpha32;
  const void* beta = f64 ? static_cast<const void*>(&g.beta) : &beta32;
  const cublasStatus_t status = cublasLtMatmul(state.handle, plan.desc, alpha, g.b.data, plan.a, g.a.data, plan.b,
                                               beta, g.c, plan.c, g.c, plan.c, &plan.algo, workspace, kWorkspaceBytes,
                                               stream);
  // "CUBLAS_STATUS_SUCCESS doesn't fully guarantee algo will run" (cublasLt.h, on the heuristic): a refusal here
  // is remembered as the heuristic's would be, and nothing was queued.
  if (status == CUBLAS_STATUS_NOT_SUPPORTED) {
    plan.refused = true;
    return false;
  }
  TESSERA_CUBLAS_CHECK(status);
  return true;
}

}  // namespace tessera::kernels::cuda
