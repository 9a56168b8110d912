#include "core/nn/embedding.h"

#include "core/autograd/grad_mode.h"
#include "core/nn/init.h"
#include "core/nn/repr.h"
#include "core/ops/factory.h"
#include "core/ops/index.h"

namespace tessera::nn {

Embedding::Embedding(EmbeddingOptions options, Generator& gen) : options_(options) {
  const int64_t n = options.num_embeddings;
  TESSERA_CHECK(n > 0 && options.embedding_dim > 0, "Embedding: num_embeddings (", n, ") and embedding_dim (",
                options.embedding_dim, ") must be positive");
  if (options.padding_idx) {
    const int64_t idx = *options.padding_idx;
    TESSERA_CHECK(idx >= -n && idx < n, "Embedding: padding_idx ", idx, " out of range for num_embeddings ", n);
    options_.padding_idx = idx < 0 ? idx + n : idx;
  }
  weight_ = register_parameter("weight", empty({n, options.embedding_dim}));
  reset_parameters(gen);
}

void Embedding::reset_parameters(Generator& gen) {
  init::normal_(weight_, 0.0, 1.0, gen);
  if (options_.padding_idx) {
    NoGradGuard no_grad;
    weight_.select(0, *options_.padding_idx).fill_(0.0);
  }
}

Tensor Embedding::forward(const Tensor& indices) {
  TESSERA_CHECK(is_integral(indices.dtype()) && indices.dtype() != DType::boolean, str(),
                ": indices must be an integer tensor, got ", dtype_name(indices.dtype()));
  return embedding(weight_, indices, options_.padding_idx);
}

std::string Embedding::extra_repr() const {
  using detail::repr_value;
  std::string out = repr_value(options_.num_embeddings) + ", " + repr_value(options_.embedding_dim);
  if (options_.padding_idx) out += ", padding_idx=" + repr_value(*options_.padding_idx);
  return out;
}

}  // namespace tessera::nn
