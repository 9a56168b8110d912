#pragma once
// Tensor creation. Random creation draws from a Generator (default: the global one, seeded by manual_seed).
#include <vector>

#include "core/generator.h"
#include "core/tensor.h"

namespace tessera {

Tensor zeros(const Shape& shape, TensorOptions options = {});
Tensor ones(const Shape& shape, TensorOptions options = {});
Tensor full(const Shape& shape, double value, TensorOptions options = {});
// torch.arange. Without options the dtype follows the values: i64 when start, end and step are all whole numbers,
// else the default float type (arange(0, 1, 0.25) is [0, 0.25, 0.5, 0.75]). PyTorch looks at the Python types
// instead, which C++ doubles cannot tell apart: arange(2.0) is i64 here, float32 in torch.arange(2.0); pass
// {.dtype = ...} for a float range of whole numbers.
Tensor arange(double end);
Tensor arange(double end, TensorOptions options);
Tensor arange(double start, double end, double step = 1.0);
Tensor arange(double start, double end, double step, TensorOptions options);
// A 0-d tensor on the host (the CPU) whatever the default device: state-dict metadata and other control values.
Tensor host_scalar(double value, DType dtype);
Tensor scalar_tensor(double value, TensorOptions options = {});
Tensor zeros_like(const Tensor& t);
Tensor ones_like(const Tensor& t);
Tensor empty_like(const Tensor& t);
Tensor full_like(const Tensor& t, double value);

// Copies `values` (row-major) into a new tensor of `shape` (default: 1-D; 0-d for a single value) with dtype taken
// from T unless given.
template <typename T>
Tensor tensor(const std::vector<T>& values, const Shape& shape = {}, std::optional<TensorOptions> options = {});

Tensor rand(const Shape& shape, Generator& gen = default_generator(), TensorOptions options = {});   // U[0,1)
Tensor randn(const Shape& shape, Generator& gen = default_generator(), TensorOptions options = {});  // N(0,1)
Tensor randint(int64_t low, int64_t high, const Shape& shape, Generator& gen = default_generator(),
               TensorOptions options = {.dtype = DType::i64});  // [low, high)
// In place, like torch.nn.init: fills with U[low, high) or N(mean, std).
Tensor& uniform_(Tensor& t, double low, double high, Generator& gen = default_generator());
Tensor& normal_(Tensor& t, double mean, double std, Generator& gen = default_generator());

}  // namespace tessera
