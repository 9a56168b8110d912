#include "kernels/cuda/stream.h"

#include <mutex>

#include "kernels/cuda/cuda_check.h"

namespace tessera::kernels::cuda {

namespace {
thread_local cudaStream_t g_current[kMaxDevices] = {};  // null: the compute stream

void check_device(int device) {
  TESSERA_CHECK(device >= 0 && device < kMaxDevices, "cuda:", device, ": Tessera handles at most ", kMaxDevices,
                " GPUs per process");
}
}  // namespace

cudaStream_t compute_stream(int device) {
  static std::once_flag once[kMaxDevices];
  static cudaStream_t streams[kMaxDevices];
  check_device(device);
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
  check_device(device);
  // Asks the runtime (a thread-local read) rather than caching the last device selected here: other code on this
  // thread (the NCCL communicator, user code) calls cudaSetDevice too, and a stale cache would queue this GPU's
  // stream and kernels with another GPU current.
  int current = -1;
  TESSERA_CUDA_CHECK(cudaGetDevice(&current));
  if (current != device) TESSERA_CUDA_CHECK(cudaSetDevice(device));
  cudaStream_t stream = g_current[device];
  return stream ? stream : compute_stream(device);
}

cudaStream_t chosen_stream(int device) {
  check_device(device);
  return g_current[device];
}

void choose_stream(int device, cudaStream_t stream) {
  check_device(device);
  g_current[device] = stream;
}

StreamGuard::StreamGuard(int device, cudaStream_t stream)
    : device_(device), previous_((check_device(device), g_current[device])) {  // g_current has kMaxDevices slots
  g_current[device] = stream;
}

StreamGuard::~StreamGuard() { g_current[device_] = previous_; }

}  // namespace tessera::kernels::cuda
