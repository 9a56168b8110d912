#pragma once
// Reductions over all elements or over `dims` (negative dims allowed, each dim at most once, as in PyTorch; keepdim
// keeps them as size 1).
#include <utility>

#include "core/tensor.h"

namespace tessera {

Tensor sum(const Tensor& x);
Tensor sum(const Tensor& x, const Shape& dims, bool keepdim = false);
Tensor mean(const Tensor& x);
Tensor mean(const Tensor& x, const Shape& dims, bool keepdim = false);
Tensor max(const Tensor& x);  // over all elements
Tensor min(const Tensor& x);
// Values and i64 indices along dim (first occurrence on ties, as PyTorch on CPU); differentiable in values.
std::pair<Tensor, Tensor> max(const Tensor& x, int64_t dim, bool keepdim = false);
std::pair<Tensor, Tensor> min(const Tensor& x, int64_t dim, bool keepdim = false);
Tensor argmax(const Tensor& x, int64_t dim, bool keepdim = false);
Tensor argmin(const Tensor& x, int64_t dim, bool keepdim = false);
// Population (unbiased=false) or sample variance over dims.
Tensor var(const Tensor& x, const Shape& dims, bool unbiased = true, bool keepdim = false);

}  // namespace tessera
