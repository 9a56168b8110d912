#pragma once
// nn::Embedding: a lookup table weight (num_embeddings, embedding_dim) ~ N(0, 1), indexed by an integer tensor of
// any shape. The padding_idx row (if any) is zero at init and receives no gradient, as PyTorch.
#include <optional>

#include "core/generator.h"
#include "core/nn/module.h"

namespace tessera::nn {

struct EmbeddingOptions {
  int64_t num_embeddings = 0;
  int64_t embedding_dim = 0;
  std::optional<int64_t> padding_idx{};  // negative counts from the end
};

class Embedding : public Module {
 public:
  explicit Embedding(EmbeddingOptions options, Generator& gen = default_generator());
  Embedding(int64_t num_embeddings, int64_t embedding_dim, Generator& gen = default_generator())
      : Embedding(EmbeddingOptions{.num_embeddings = num_embeddings, .embedding_dim = embedding_dim}, gen) {}

  Tensor forward(const Tensor& indices) override;
  void reset_parameters(Generator& gen = default_generator());

  const EmbeddingOptions& options() const { return options_; }  // padding_idx normalised to [0, num_embeddings)
  Tensor weight() const { return weight_; }
  std::string type_name() const override { return "Embedding"; }
  std::string extra_repr() const override;

 private:
  EmbeddingOptions options_;
  Tensor weight_;
};

}  // namespace tessera::nn
