#pragma once
// TESSERA_CUDNN_CHECK: a failed cuDNN call throws tessera::Error naming the call, cuDNN's status text and, when cuDNN
// left one on this thread, its detailed last-error message (which says which parameter it rejected).
#include <cudnn.h>

#include "kernels/common/check.h"

#define TESSERA_CUDNN_CHECK(expr)                                                                          \
  do {                                                                                                     \
    const cudnnStatus_t tessera_cudnn_status = (expr);                                                     \
    if (__builtin_expect(tessera_cudnn_status != CUDNN_STATUS_SUCCESS, 0)) {                               \
      char tessera_cudnn_detail[512] = {};                                                                 \
      cudnnGetLastErrorString(tessera_cudnn_detail, sizeof(tessera_cudnn_detail));                         \
      TESSERA_THROW(#expr, " failed: ", cudnnGetErrorString(tessera_cudnn_status),                          \
                    tessera_cudnn_detail[0] ? " (" : "", tessera_cudnn_detail,                              \
                    tessera_cudnn_detail[0] ? ")" : "");                                                   \
    }                                                                                                      \
  } while (0)
