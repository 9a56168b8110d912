// Temporary stubs (owner: conv/pool/norm work). Delete each as its real implementation lands.
#include "core/ops/nn_functional.h"
#include "core/ops/stubs.h"

namespace tessera {
Tensor conv2d(const Tensor&, const Tensor&, const Tensor&, Conv2dOptions) { TESSERA_NOT_IMPLEMENTED("conv2d"); }
Tensor max_pool2d(const Tensor&, Pool2dOptions) { TESSERA_NOT_IMPLEMENTED("max_pool2d"); }
Tensor avg_pool2d(const Tensor&, Pool2dOptions) { TESSERA_NOT_IMPLEMENTED("avg_pool2d"); }
Tensor adaptive_avg_pool2d(const Tensor&, std::array<int64_t, 2>) { TESSERA_NOT_IMPLEMENTED("adaptive_avg_pool2d"); }
Tensor layer_norm(const Tensor&, const Shape&, const Tensor&, const Tensor&, double) {
  TESSERA_NOT_IMPLEMENTED("layer_norm");
}
Tensor batch_norm(const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Tensor&, bool, double, double) {
  TESSERA_NOT_IMPLEMENTED("batch_norm");
}
Tensor dropout(const Tensor&, double, bool, Generator&) { TESSERA_NOT_IMPLEMENTED("dropout"); }
}  // namespace tessera
