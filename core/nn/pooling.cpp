#include "core/nn/pooling.h"

#include "core/nn/repr.h"
#include "core/ops/nn_functional.h"

namespace tessera::nn {

namespace {
IntPair resolve_stride(IntPair stride, IntPair kernel_size) { return stride == IntPair(0) ? kernel_size : stride; }

void check_pool(const char* layer, IntPair kernel_size, IntPair stride, IntPair padding) {
  TESSERA_CHECK(kernel_size.h > 0 && kernel_size.w > 0, layer, ": kernel_size ", kernel_size.str(),
                " must be positive");
  TESSERA_CHECK(stride.h > 0 && stride.w > 0, layer, ": stride ", stride.str(), " must be positive");
  TESSERA_CHECK(padding.h >= 0 && padding.w >= 0 && 2 * padding.h <= kernel_size.h && 2 * padding.w <= kernel_size.w,
                layer, ": padding ", padding.str(), " must be non-negative and at most half of kernel_size ",
                kernel_size.str());
}

void check_image(const Module& m, const Tensor& input) {
  TESSERA_CHECK(input.dim() == 3 || input.dim() == 4, m.str(), ": expected a (C, H, W) or (N, C, H, W) input, got shape ",
                shape_str(input.shape()));
}

std::string pool_repr(IntPair kernel_size, IntPair stride, IntPair padding, bool ceil_mode) {
  return "kernel_size=" + kernel_size.str() + ", stride=" + stride.str() + ", padding=" + padding.str() +
         ", ceil_mode=" + detail::repr_value(ceil_mode);
}
}  // namespace

MaxPool2d::MaxPool2d(MaxPool2dOptions options) : options_(options) {
  options_.stride = resolve_stride(options.stride, options.kernel_size);
  check_pool("MaxPool2d", options_.kernel_size, options_.stride, options_.padding);
}

Tensor MaxPool2d::forward(const Tensor& input) {
  check_image(*this, input);
  return max_pool2d(input, {.kernel_size = options_.kernel_size.array(),
                            .stride = options_.stride.array(),
                            .padding = options_.padding.array(),
                            .ceil_mode = options_.ceil_mode});
}

std::string MaxPool2d::extra_repr() const {
  return pool_repr(options_.kernel_size, options_.stride, options_.padding, options_.ceil_mode);
}

AvgPool2d::AvgPool2d(AvgPool2dOptions options) : options_(options) {
  options_.stride = resolve_stride(options.stride, options.kernel_size);
  check_pool("AvgPool2d", options_.kernel_size, options_.stride, options_.padding);
}

Tensor AvgPool2d::forward(const Tensor& input) {
  check_image(*this, input);
  return avg_pool2d(input, {.kernel_size = options_.kernel_size.array(),
                            .stride = options_.stride.array(),
                            .padding = options_.padding.array(),
                            .ceil_mode = options_.ceil_mode,
                            .count_include_pad = options_.count_include_pad});
}

std::string AvgPool2d::extra_repr() const {
  return pool_repr(options_.kernel_size, options_.stride, options_.padding, options_.ceil_mode) +
         ", count_include_pad=" + detail::repr_value(options_.count_include_pad);
}

AdaptiveAvgPool2d::AdaptiveAvgPool2d(IntPair output_size) : output_size_(output_size) {
  TESSERA_CHECK(output_size.h > 0 && output_size.w > 0, "AdaptiveAvgPool2d: output_size ", output_size.str(),
                " must be positive");
}

Tensor AdaptiveAvgPool2d::forward(const Tensor& input) {
  check_image(*this, input);
  return adaptive_avg_pool2d(input, output_size_.array());
}

}  // namespace tessera::nn
