#pragma once
// dispatch_f32_f64: the dtype dispatch of the entries whose data is f32 or f64 only (norms, the loss's compute
// dtype, optimizer steps, loss scaling, the DDP scale-copy), shared by the CPU and CUDA backends so both reject
// anything else with the same message, before any work is queued. C++17 (.cu files include it).
#include "kernels/common/check.h"
#include "kernels/common/dtype.h"

namespace tessera::kernels {

// Calls f.template operator()<T>() for T = float or double; otherwise throws "<op>: <expected>, got <dtype>".
template <typename F>
void dispatch_f32_f64(DType dtype, const char* op, F&& f, const char* expected = "expected f32 or f64") {
  switch (dtype) {
    case DType::f32: f.template operator()<float>(); return;
    case DType::f64: f.template operator()<double>(); return;
    default: TESSERA_THROW(op, ": ", expected, ", got ", dtype_name(dtype));
  }
}

}  // namespace tessera::kernels
