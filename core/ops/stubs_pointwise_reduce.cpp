// Temporary stubs (owner: pointwise/reduce work). Delete each as its real implementation lands.
#include "core/ops/pointwise.h"
#include "core/ops/reduce.h"
#include "core/ops/stubs.h"

namespace tessera {
Tensor sqrt(const Tensor&) { TESSERA_NOT_IMPLEMENTED("sqrt"); }
Tensor rsqrt(const Tensor&) { TESSERA_NOT_IMPLEMENTED("rsqrt"); }
Tensor pow(const Tensor&, double) { TESSERA_NOT_IMPLEMENTED("pow"); }
Tensor pow(const Tensor&, const Tensor&) { TESSERA_NOT_IMPLEMENTED("pow"); }
Tensor abs(const Tensor&) { TESSERA_NOT_IMPLEMENTED("abs"); }
Tensor clamp(const Tensor&, std::optional<double>, std::optional<double>) { TESSERA_NOT_IMPLEMENTED("clamp"); }
Tensor tanh(const Tensor&) { TESSERA_NOT_IMPLEMENTED("tanh"); }
Tensor sigmoid(const Tensor&) { TESSERA_NOT_IMPLEMENTED("sigmoid"); }
Tensor gelu(const Tensor&, bool) { TESSERA_NOT_IMPLEMENTED("gelu"); }
Tensor leaky_relu(const Tensor&, double) { TESSERA_NOT_IMPLEMENTED("leaky_relu"); }
Tensor eq(const Tensor&, const Tensor&) { TESSERA_NOT_IMPLEMENTED("eq"); }
Tensor ne(const Tensor&, const Tensor&) { TESSERA_NOT_IMPLEMENTED("ne"); }
Tensor lt(const Tensor&, const Tensor&) { TESSERA_NOT_IMPLEMENTED("lt"); }
Tensor le(const Tensor&, const Tensor&) { TESSERA_NOT_IMPLEMENTED("le"); }
Tensor gt(const Tensor&, const Tensor&) { TESSERA_NOT_IMPLEMENTED("gt"); }
Tensor ge(const Tensor&, const Tensor&) { TESSERA_NOT_IMPLEMENTED("ge"); }
Tensor eq(const Tensor&, double) { TESSERA_NOT_IMPLEMENTED("eq"); }
Tensor gt(const Tensor&, double) { TESSERA_NOT_IMPLEMENTED("gt"); }
Tensor lt(const Tensor&, double) { TESSERA_NOT_IMPLEMENTED("lt"); }
Tensor logical_not(const Tensor&) { TESSERA_NOT_IMPLEMENTED("logical_not"); }
Tensor where(const Tensor&, const Tensor&, const Tensor&) { TESSERA_NOT_IMPLEMENTED("where"); }
Tensor masked_fill(const Tensor&, const Tensor&, double) { TESSERA_NOT_IMPLEMENTED("masked_fill"); }
Tensor max(const Tensor&) { TESSERA_NOT_IMPLEMENTED("max"); }
Tensor min(const Tensor&) { TESSERA_NOT_IMPLEMENTED("min"); }
std::pair<Tensor, Tensor> max(const Tensor&, int64_t, bool) { TESSERA_NOT_IMPLEMENTED("max"); }
std::pair<Tensor, Tensor> min(const Tensor&, int64_t, bool) { TESSERA_NOT_IMPLEMENTED("min"); }
Tensor argmax(const Tensor&, int64_t, bool) { TESSERA_NOT_IMPLEMENTED("argmax"); }
Tensor argmin(const Tensor&, int64_t, bool) { TESSERA_NOT_IMPLEMENTED("argmin"); }
Tensor var(const Tensor&, const Shape&, bool, bool) { TESSERA_NOT_IMPLEMENTED("var"); }
}  // namespace tessera
