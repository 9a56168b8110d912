// Temporary stubs (owner: index/cat/softmax/loss work). Delete each as its real implementation lands.
#include "core/ops/index.h"
#include "core/ops/nn_functional.h"
#include "core/ops/stubs.h"
#include "core/ops/view.h"

namespace tessera {
Tensor cat(const std::vector<Tensor>&, int64_t) { TESSERA_NOT_IMPLEMENTED("cat"); }
Tensor stack(const std::vector<Tensor>&, int64_t) { TESSERA_NOT_IMPLEMENTED("stack"); }
Tensor index_select(const Tensor&, int64_t, const Tensor&) { TESSERA_NOT_IMPLEMENTED("index_select"); }
Tensor gather(const Tensor&, int64_t, const Tensor&) { TESSERA_NOT_IMPLEMENTED("gather"); }
Tensor scatter_add(const Tensor&, int64_t, const Tensor&, const Tensor&) { TESSERA_NOT_IMPLEMENTED("scatter_add"); }
Tensor embedding(const Tensor&, const Tensor&, std::optional<int64_t>) { TESSERA_NOT_IMPLEMENTED("embedding"); }
Tensor one_hot(const Tensor&, int64_t) { TESSERA_NOT_IMPLEMENTED("one_hot"); }
Tensor softmax(const Tensor&, int64_t) { TESSERA_NOT_IMPLEMENTED("softmax"); }
Tensor log_softmax(const Tensor&, int64_t) { TESSERA_NOT_IMPLEMENTED("log_softmax"); }
Tensor cross_entropy(const Tensor&, const Tensor&, Reduction, int64_t, double) { TESSERA_NOT_IMPLEMENTED("cross_entropy"); }
Tensor nll_loss(const Tensor&, const Tensor&, Reduction, int64_t) { TESSERA_NOT_IMPLEMENTED("nll_loss"); }
Tensor mse_loss(const Tensor&, const Tensor&, Reduction) { TESSERA_NOT_IMPLEMENTED("mse_loss"); }
}  // namespace tessera
