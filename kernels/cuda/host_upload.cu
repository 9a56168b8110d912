// CudaBackend::copy_from_host: a few bytes travel inside a kernel's parameters, more by cudaMemcpyAsync.
//
// Invariants (why):
//  - The small uploads are per-step scalars (an optimizer's learning rate and bias corrections, a graph replay's
//    random offsets, a scalar tensor). From pageable memory, cudaMemcpyAsync "might be synchronous with respect to
//    host" (the runtime's API sync behaviour) and from pinned memory the caller's buffer must outlive the DMA, so
//    either could make a warm step wait for the GPU. Kernel parameters are copied when the launch is queued, as
//    PyTorch's graph replays pass their random offsets (a fill_ with the value as the argument): the host never
//    waits, and the caller may reuse its buffer at once, which is copy_from_host's promise.
//  - The inline path reads the caller's bytes at the call, not in stream order (cudaMemcpyAsync from pinned memory
//    read them when the copy ran): a pinned buffer that queued device work still fills (copy_to_host_async) must be
//    waited for before it is uploaded again. Nothing in Tessera does that; the loader and the MPI staging use the
//    _async entries.
//  - kInlineUploadBytes stays far below the 4 KiB every architecture accepts as kernel parameters.
#include <cstring>

#include "kernels/cuda/cuda_backend.h"
#include "kernels/cuda/cuda_check.h"

namespace tessera::kernels::cuda {

namespace {

constexpr size_t kInlineUploadBytes = 1024;
constexpr int kInlineUploadThreads = 128;

struct InlineBytes {
  unsigned char bytes[kInlineUploadBytes];
};

__global__ void __launch_bounds__(kInlineUploadThreads) store_inline_bytes(unsigned char* dst, InlineBytes payload,
                                                                             unsigned n) {
  for (unsigned i = threadIdx.x; i < n; i += blockDim.x) dst[i] = payload.bytes[i];
}

}  // namespace

void CudaBackend::copy_from_host(void* dst, const void* host_src, size_t nbytes) {
  check_not_capturing("copy_from_host");
  if (nbytes == 0) return;
  cudaStream_t s = stream();
  if (nbytes <= kInlineUploadBytes) {
    InlineBytes payload;
    std::memcpy(payload.bytes, host_src, nbytes);
    store_inline_bytes<<<1, kInlineUploadThreads, 0, s>>>(static_cast<unsigned char*>(dst), payload,
                                                          static_cast<unsigned>(nbytes));
    TESSERA_CUDA_CHECK_LAUNCH("store_inline_bytes");
    return;
  }
  // From pageable memory the call returns once the bytes are staged, so the caller may reuse its buffer at once;
  // from pinned memory the DMA reads the buffer later, so wait for it to keep the same promise.
  TESSERA_CUDA_CHECK(cudaMemcpyAsync(dst, host_src, nbytes, cudaMemcpyHostToDevice, s));
  if (page_locked(host_src)) TESSERA_CUDA_CHECK(cudaStreamSynchronize(s));
}

}  // namespace tessera::kernels::cuda
