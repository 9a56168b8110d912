#pragma once
// The functional forms of the neural-network layers (torch.nn.functional). Layouts are PyTorch's: NCHW images,
// weights (out_channels, in_channels/groups, kh, kw).
#include <array>
#include <optional>

#include "core/generator.h"
#include "core/tensor.h"

namespace tessera {

struct Conv2dOptions {
  std::array<int64_t, 2> stride{1, 1};
  std::array<int64_t, 2> padding{0, 0};
  std::array<int64_t, 2> dilation{1, 1};
  int64_t groups = 1;
};
Tensor conv2d(const Tensor& input, const Tensor& weight, const Tensor& bias = Tensor(), Conv2dOptions options = {});
// relu(conv2d(...)) with the ReLU in the convolution's backend call (with a bias, a GPU's bias kernel clamps: one
// launch less); the same values and gradients. nn::Sequential runs a Conv2d followed by a ReLU through it.
Tensor conv2d_relu(const Tensor& input, const Tensor& weight, const Tensor& bias = Tensor(),
                   Conv2dOptions options = {});

struct Pool2dOptions {
  std::array<int64_t, 2> kernel_size{2, 2};
  std::array<int64_t, 2> stride{0, 0};  // 0: same as kernel_size
  std::array<int64_t, 2> padding{0, 0};
  bool ceil_mode = false;
  bool count_include_pad = true;  // avg_pool2d only
};
Tensor max_pool2d(const Tensor& input, Pool2dOptions options);
Tensor avg_pool2d(const Tensor& input, Pool2dOptions options);
Tensor adaptive_avg_pool2d(const Tensor& input, std::array<int64_t, 2> output_size);

Tensor softmax(const Tensor& x, int64_t dim);
Tensor log_softmax(const Tensor& x, int64_t dim);

enum class Reduction { none, mean, sum };
// logits (N, C) or (N, C, d...), target i64 class indices (N) or (N, d...); label_smoothing as PyTorch.
Tensor cross_entropy(const Tensor& logits, const Tensor& target, Reduction reduction = Reduction::mean,
                     int64_t ignore_index = -100, double label_smoothing = 0.0);
Tensor nll_loss(const Tensor& log_probs, const Tensor& target, Reduction reduction = Reduction::mean,
                int64_t ignore_index = -100);
Tensor mse_loss(const Tensor& input, const Tensor& target, Reduction reduction = Reduction::mean);
// Element-wise losses of floating input and target of one shape (core/ops/loss_elementwise.cpp).
Tensor binary_cross_entropy_with_logits(const Tensor& logits, const Tensor& target,
                                        Reduction reduction = Reduction::mean);  // target in [0, 1]
Tensor l1_loss(const Tensor& input, const Tensor& target, Reduction reduction = Reduction::mean);
Tensor huber_loss(const Tensor& input, const Tensor& target, Reduction reduction = Reduction::mean, double delta = 1.0);

// Normalises over the trailing dims given by normalized_shape; weight/bias optional (undefined).
Tensor layer_norm(const Tensor& x, const Shape& normalized_shape, const Tensor& weight = Tensor(),
                  const Tensor& bias = Tensor(), double eps = 1e-5);
// x (N, C) or (N, C, ...). In training, normalises with batch statistics and updates running_mean/running_var
// in place (momentum, unbiased variance for the running estimate, as PyTorch); in eval uses the running stats.
Tensor batch_norm(const Tensor& x, const Tensor& running_mean, const Tensor& running_var, const Tensor& weight,
                  const Tensor& bias, bool training, double momentum = 0.1, double eps = 1e-5);
// Inverted dropout: zeroes with probability p and scales survivors by 1/(1-p) when training.
Tensor dropout(const Tensor& x, double p, bool training, Generator& gen = default_generator());

}  // namespace tessera
