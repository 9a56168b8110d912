#pragma once
// What accelerators this build and this machine have. The CUDA build answers from the CUDA runtime
// (kernels/cuda/device_info.cu); a CPU-only build links kernels/stub/device_info.cpp instead.

#include <string>

namespace tessera::kernels {

bool cuda_compiled();                           // this binary has the CUDA path
int cuda_device_count();                        // GPUs visible now; 0 without a driver or device
// Why cuda_device_count() is 0: the CUDA runtime's error ("cudaErrorInsufficientDriver: CUDA driver version is
// insufficient for CUDA runtime version", "cudaErrorNoDevice: no CUDA-capable device is detected"), or that the
// build has no CUDA path; empty when there are GPUs.
std::string cuda_unavailable_reason();
bool cuda_fill_roundtrip(int n, float value);   // launches a kernel and reads it back (GPU smoke test)
// The GPU's PCI bus id ("0000:1b:00.0"): the same physical GPU whatever CUDA_VISIBLE_DEVICES numbers it; empty
// without one.
std::string cuda_pci_bus_id(int device);
// For `tessera --version`: the libraries this binary runs with, as "name version" items separated by "; ".
std::string cuda_library_versions();  // CUDA runtime and driver, cuBLASLt, cuDNN (or why there are none)
std::string cpu_library_versions();   // OpenBLAS (its build and core), oneDNN
std::string cpu_features();           // the instruction sets this build's kernels were compiled for

}  // namespace tessera::kernels
