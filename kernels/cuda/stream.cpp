#include "kernels/cuda/stream.h"

#include <mutex>

#include "kernels/cuda/cuda_check.h"

namespace tessera::kernels::cuda {

namespace {
thread_local cudaStream_t g_current[kMaxDevices] = {};  // null: the compute stream
thread_local int g_thread_device = -1;                   // the CUDA device this thread last selected
}  // namespace

cudaStream_t compute_stream(int device) {
  static std::once_flag once[kMaxDevices];
  static cudaStream_t streams[kMaxDevices];
  TESSERA_CHECK(device >= 0 && device < kMaxDevices, "cuda:", device, ": Tessera handles at most ", kMaxDevices,
                " GPUs per process");
  std::call_once(once[device], [device] {
    int previous = 0;
    TESSERA_CUDA_CHECK(cudaGetDevice(&previous));
    TESSERA_CUDA_CHECK(cudaSetDevice(device));
    TESSERA_CUDA_CHECK(cudaStreamCreateWithFlags(&streams[device], cudaStreamNonBlocking));
    TESSERA_CUDA_CHECK(cudaSetDevice(previous));
  });
  return streams[device];
}

cudaStream_t current_stream(int device) {
  if (g_thread_device != device) {
    TESSERA_CUDA_CHECK(cudaSetDevice(device));
    g_thread_device = device;
  }
  cudaStream_t stream = g_current[device];
  return stream ? stream : compute_stream(device);
}

StreamGuard::StreamGuard(int device, cudaStream_t stream) : device_(device), previous_(g_current[device]) {
  g_current[device] = stream;
}

StreamGuard::~StreamGuard() { g_current[device_] = previous_; }

}  // namespace tessera::kernels::cuda
