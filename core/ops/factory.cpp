#include "core/ops/factory.h"

#include <cmath>

#include "core/backend_of.h"
#include "core/ops/elementwise.h"

namespace tessera {

Tensor host_scalar(double value, DType dtype) { return full({}, value, {.dtype = dtype, .device = Device()}); }

Tensor scalar_tensor(double value, TensorOptions options) { return full({}, value, options); }

Tensor full(const Shape& shape, double value, TensorOptions options) {
  Tensor t = empty(shape, {.dtype = options.dtype, .device = options.device});
  detail::fill_into(t, value);
  if (options.requires_grad) t.requires_grad_(true);
  return t;
}

Tensor zeros(const Shape& shape, TensorOptions options) { return full(shape, 0.0, options); }
Tensor ones(const Shape& shape, TensorOptions options) { return full(shape, 1.0, options); }
Tensor zeros_like(const Tensor& t) { return zeros(t.shape(), {.dtype = t.dtype(), .device = t.device()}); }
Tensor ones_like(const Tensor& t) { return ones(t.shape(), {.dtype = t.dtype(), .device = t.device()}); }
Tensor empty_like(const Tensor& t) { return empty(t.shape(), {.dtype = t.dtype(), .device = t.device()}); }
Tensor full_like(const Tensor& t, double value) {
  return full(t.shape(), value, {.dtype = t.dtype(), .device = t.device()});
}

namespace {
bool whole(double v) { return std::isfinite(v) && v == std::trunc(v); }
}  // namespace

Tensor arange(double end) { return arange(0.0, end, 1.0); }
Tensor arange(double end, TensorOptions options) { return arange(0.0, end, 1.0, options); }
Tensor arange(double start, double end, double step) {
  const DType dtype = whole(start) && whole(end) && whole(step) ? DType::i64 : default_float();
  return arange(start, end, step, {.dtype = dtype, .device = default_device()});
}

Tensor arange(double start, double end, double step, TensorOptions options) {
  TESSERA_CHECK(step != 0.0, "arange: step must be nonzero");
  // The count as a double first: casting a NaN, an infinity or a value past int64 to int64 is undefined (on x86 it
  // gave INT64_MIN, so arange(0, inf) was silently empty); PyTorch refuses such ranges.
  const double count = std::ceil((end - start) / step);
  TESSERA_CHECK(std::isfinite(start) && std::isfinite(end) && std::isfinite(count) && count < 0x1p63,
                "arange: unsupported range [", start, ", ", end, ") with step ", step);
  const int64_t n = count > 0 ? static_cast<int64_t>(count) : 0;
  TESSERA_CHECK(options.dtype != DType::boolean, "arange: not defined for bool tensors");
  Tensor t = empty({n}, {.dtype = options.dtype, .device = options.device});
  backend_of(options.device).arange(t.raw_data(), options.dtype, n, start, step);
  if (options.requires_grad) t.requires_grad_(true);
  return t;
}

template <typename T>
Tensor tensor(const std::vector<T>& values, const Shape& shape, std::optional<TensorOptions> options) {
  const Shape target = shape.empty() && values.size() != 1 ? Shape{static_cast<int64_t>(values.size())} : shape;
  TESSERA_CHECK(shape_numel(target) == static_cast<int64_t>(values.size()), "tensor: ", values.size(),
                " values do not fill shape ", shape_str(target));
  Tensor t = empty(target, {.dtype = dtype_of<T>(), .device = default_device()});
  backend_of(t.device()).copy_from_host(t.raw_data(), values.data(), values.size() * sizeof(T));
  if (options) {
    t = t.to(options->dtype).to(options->device);
    if (options->requires_grad) t.requires_grad_(true);
  }
  return t;
}

template Tensor tensor<float>(const std::vector<float>&, const Shape&, std::optional<TensorOptions>);
template Tensor tensor<double>(const std::vector<double>&, const Shape&, std::optional<TensorOptions>);
template Tensor tensor<int32_t>(const std::vector<int32_t>&, const Shape&, std::optional<TensorOptions>);
template Tensor tensor<int64_t>(const std::vector<int64_t>&, const Shape&, std::optional<TensorOptions>);
template Tensor tensor<uint8_t>(const std::vector<uint8_t>&, const Shape&, std::optional<TensorOptions>);

namespace {
// Fills t from the generator's Philox stream on t's device: element i from its own words, so a seed and offset give
// the same tensor on every device (a view: element i of a contiguous tensor of its shape).
Tensor& fill_random(Tensor& t, const char* op, kernels::RandomArgs args, Generator& gen) {
  TESSERA_CHECK(t.dtype() != DType::boolean, op, ": not defined for bool tensors");
  // As Tensor's in-place ops (PyTorch: "a leaf Variable that requires grad is being used in an in-place operation"):
  // unrecorded, a fill of a tensor that requires grad would leave its old grad_fn, and its gradient, in place.
  detail::check_inplace_allowed(t, op);
  if (!t.is_contiguous()) {  // a view (a column of a weight, a transposed one): filled through a contiguous buffer
    Tensor buffer = empty(t.shape(), {.dtype = t.dtype(), .device = t.device()});
    fill_random(buffer, op, args, gen);
    t.copy_(buffer);
    return t;
  }
  gen.reserve_fill(args, static_cast<uint64_t>(t.numel()) * kernels::random_words_per_element(args.kind, t.dtype()),
                   t.device());
  backend_of(t.device()).random_fill(t.raw_data(), t.dtype(), t.numel(), args);
  t.bump_version();
  return t;
}
}  // namespace

Tensor& uniform_(Tensor& t, double low, double high, Generator& gen) {
  return fill_random(t, "uniform_", {.kind = kernels::RandomKind::uniform, .a = low, .b = high}, gen);
}

Tensor& normal_(Tensor& t, double mean, double std, Generator& gen) {
  return fill_random(t, "normal_", {.kind = kernels::RandomKind::normal, .a = mean, .b = std}, gen);
}

Tensor rand(const Shape& shape, Generator& gen, TensorOptions options) {
  Tensor t = empty(shape, {.dtype = options.dtype, .device = options.device});
  uniform_(t, 0.0, 1.0, gen);
  if (options.requires_grad) t.requires_grad_(true);
  return t;
}

Tensor randn(const Shape& shape, Generator& gen, TensorOptions options) {
  Tensor t = empty(shape, {.dtype = options.dtype, .device = options.device});
  normal_(t, 0.0, 1.0, gen);
  if (options.requires_grad) t.requires_grad_(true);
  return t;
}

Tensor randint(int64_t low, int64_t high, const Shape& shape, Generator& gen, TensorOptions options) {
  TESSERA_CHECK(high > low, "randint: empty range [", low, ", ", high, ")");
  Tensor t = empty(shape, {.dtype = options.dtype, .device = options.device});
  return fill_random(t, "randint",
                     {.kind = kernels::RandomKind::integer, .a = static_cast<double>(low),
                      .b = static_cast<double>(static_cast<uint64_t>(high - low))},
                     gen);
}

}  // namespace tessera
