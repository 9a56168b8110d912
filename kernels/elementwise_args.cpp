#include "kernels/elementwise_args.h"

namespace tessera::kernels {

const char* op_name(UnaryOp op) {
  static const char* const names[] = {"copy", "neg", "abs", "relu", "clamp", "pow", "logical_not", "exp", "log",
                                      "sqrt", "rsqrt", "sigmoid", "tanh", "gelu", "gelu", "leaky_relu", "silu"};
  return names[static_cast<int>(op)];
}

const char* op_name(BinaryOp op) {
  static const char* const names[] = {
      "add", "sub", "mul", "div", "pow", "maximum", "minimum", "eq", "ne", "lt", "le", "gt", "ge", "masked_fill", "where_backward",
      "relu_backward", "sigmoid_backward", "tanh_backward", "sqrt_backward", "rsqrt_backward", "abs_backward",
      "clamp_backward", "gelu_backward", "gelu_backward", "leaky_relu_backward", "pow_backward",
      "silu_backward"};
  return names[static_cast<int>(op)];
}

const char* op_name(TernaryOp op) {
  static const char* const names[] = {"where", "pow_backward", "pow_backward"};
  return names[static_cast<int>(op)];
}

}  // namespace tessera::kernels
