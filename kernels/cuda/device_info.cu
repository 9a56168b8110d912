// The CUDA side's first translation unit: asks the runtime how many GPUs there are. It is compiled in every CUDA
// build, on machines without a GPU too, so the CUDA path can never silently stop building.
#include <cublasLt.h>
#include <cuda_runtime.h>
#include <cudnn.h>

#include <string>

#include "kernels/device_info.h"

namespace tessera::kernels {

namespace {
__global__ void fill_kernel(float* out, int n, float value) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) out[i] = value;
}
}  // namespace

bool cuda_compiled() { return true; }

namespace {
// The runtime's device count, 0 where it has none to give (its error cleared): without a driver (error 35,
// cudaErrorInsufficientDriver) or without devices there is simply no GPU.
cudaError_t query_device_count(int& count) {
  const cudaError_t status = cudaGetDeviceCount(&count);
  if (status != cudaSuccess) {
    cudaGetLastError();
    count = 0;
  }
  return status;
}
}  // namespace

int cuda_device_count() {
  int count = 0;
  query_device_count(count);
  return count;
}

std::string cuda_unavailable_reason() {
  int count = 0;
  const cudaError_t status = query_device_count(count);
  if (status != cudaSuccess) return std::string(cudaGetErrorName(status)) + ": " + cudaGetErrorString(status);
  return count > 0 ? std::string() : std::string("the CUDA runtime reports 0 devices");
}

std::string cuda_pci_bus_id(int device) {
  char id[32] = {};
  if (cudaDeviceGetPCIBusId(id, sizeof(id), device) != cudaSuccess) {
    cudaGetLastError();
    return "";
  }
  return id;
}

namespace {
std::string major_minor(int version) {  // CUDA's major * 1000 + minor * 10 -> "13.0"
  return std::to_string(version / 1000) + "." + std::to_string(version % 1000 / 10);
}
std::string major_minor_patch(size_t version) {  // major * 10000 + minor * 100 + patch -> "9.19.0"
  return std::to_string(version / 10000) + "." + std::to_string(version / 100 % 100) + "." +
         std::to_string(version % 100);
}
}  // namespace

std::string cuda_library_versions() {
  int runtime = 0, driver = 0;
  cudaRuntimeGetVersion(&runtime);
  if (cudaDriverGetVersion(&driver) != cudaSuccess) cudaGetLastError();
  const int count = cuda_device_count();
  return "CUDA runtime " + major_minor(runtime) + ", driver " +
         (driver > 0 ? major_minor(driver) : std::string("none")) + "; cuBLASLt " +
         major_minor_patch(cublasLtGetVersion()) + "; cuDNN " + major_minor_patch(cudnnGetVersion()) +
         "; GPUs visible: " + std::to_string(count) + (count > 0 ? "" : " (" + cuda_unavailable_reason() + ")");
}

bool cuda_fill_roundtrip(int n, float value) {
  if (n <= 0) return false;  // a grid of 0 blocks is cudaErrorInvalidConfiguration
  float* device = nullptr;
  if (cudaMalloc(&device, sizeof(float) * n) != cudaSuccess) {
    cudaGetLastError();  // not left for the next TESSERA_CUDA_CHECK_LAUNCH to blame on another kernel
    return false;
  }
  fill_kernel<<<(n + 255) / 256, 256>>>(device, n, value);
  if (cudaGetLastError() != cudaSuccess) {  // the launch itself failed: report it here, clear it
    cudaFree(device);
    return false;
  }
  float* host = new float[n];
  const bool copied = cudaMemcpy(host, device, sizeof(float) * n, cudaMemcpyDeviceToHost) == cudaSuccess;
  bool ok = copied;
  for (int i = 0; ok && i < n; ++i) ok = host[i] == value;
  delete[] host;
  cudaFree(device);
  return ok;
}

}  // namespace tessera::kernels
