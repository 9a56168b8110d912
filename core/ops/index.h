#pragma once
// Indexing ops. Index tensors are i64 (i32 accepted); out-of-range indices are errors naming the op, the index
// and the size.
#include "core/tensor.h"

namespace tessera {

Tensor index_select(const Tensor& x, int64_t dim, const Tensor& index);
Tensor gather(const Tensor& x, int64_t dim, const Tensor& index);
// Returns a copy of x with src added at index along dim (torch.Tensor.scatter_add); differentiable in x and src.
Tensor scatter_add(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& src);
// weight (num_embeddings, dim), indices any shape -> indices.shape + [dim]. padding_idx rows get no gradient.
Tensor embedding(const Tensor& weight, const Tensor& indices, std::optional<int64_t> padding_idx = {});
Tensor one_hot(const Tensor& indices, int64_t num_classes);  // i64 result

}  // namespace tessera
