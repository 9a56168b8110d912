#pragma once
// Streams of a GPU. Every thread's current stream is the device's compute stream (created once, non-blocking, so
// it never serialises with the legacy default stream) unless a StreamGuard on that thread says otherwise, as
// PyTorch's current stream. All backend work is queued on the current stream; streams are ordered by events only.
#include <cuda_runtime.h>

namespace tessera::kernels::cuda {

constexpr int kMaxDevices = 16;

cudaStream_t compute_stream(int device);
// The calling thread's current stream on `device`; makes `device` the thread's current CUDA device first.
cudaStream_t current_stream(int device);

// The stream this thread chose on `device` (null: the compute stream), and choosing one (null: back to compute).
cudaStream_t chosen_stream(int device);
void choose_stream(int device, cudaStream_t stream);

// Runs the scope on `stream` (on this thread only), restoring the previous current stream at exit.
class StreamGuard {
 public:
  StreamGuard(int device, cudaStream_t stream);
  ~StreamGuard();
  StreamGuard(const StreamGuard&) = delete;
  StreamGuard& operator=(const StreamGuard&) = delete;

 private:
  int device_;
  cudaStream_t previous_;
};

}  // namespace tessera::kernels::cuda
