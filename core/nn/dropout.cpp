#include "core/nn/dropout.h"

#include "core/nn/repr.h"
#include "core/ops/nn_functional.h"

namespace tessera::nn {

Dropout::Dropout(double p, Generator& gen) : p_(p), gen_(&gen) {
  TESSERA_CHECK(p >= 0.0 && p <= 1.0, "Dropout: probability p (", p, ") must be in [0, 1]");
}

Tensor Dropout::forward(const Tensor& input) { return dropout(input, p_, training_, *gen_); }

std::string Dropout::extra_repr() const { return "p=" + detail::repr_value(p_); }

}  // namespace tessera::nn
