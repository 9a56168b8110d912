// `tessera demo`: the smallest complete training run: a 3-class spiral (300 points), an MLP 2-64-64-3, AdamW,
// full-batch steps. Shows the whole CPU stack (tensors, autograd, nn, optim) working; prints loss and accuracy.
#include <cmath>
#include <cstdio>
#include <iostream>

#include "core/core.h"
#include "core/nn/nn.h"
#include "core/optim/optim.h"
#include "launch/cli/commands.h"
#include "launch/cli/flags.h"

namespace tessera::cli {

namespace {

// Three interleaved spiral arms, 100 points each, with a little deterministic noise.
std::pair<Tensor, Tensor> spiral(int64_t per_class, Generator& gen) {
  const int64_t classes = 3;
  Tensor x = empty({classes * per_class, 2});
  Tensor y = empty({classes * per_class}, {.dtype = DType::i64});
  float* px = x.data_ptr<float>();
  int64_t* py = y.data_ptr<int64_t>();
  for (int64_t c = 0; c < classes; ++c) {
    for (int64_t i = 0; i < per_class; ++i) {
      const double r = static_cast<double>(i) / per_class;
      const double angle = c * 4.0 + r * 4.0 + 0.2 * gen.normal();
      const int64_t k = c * per_class + i;
      px[2 * k] = static_cast<float>(r * std::sin(angle));
      px[2 * k + 1] = static_cast<float>(r * std::cos(angle));
      py[k] = c;
    }
  }
  return {x, y};
}

}  // namespace

int run_demo(const std::vector<std::string>& args) {
  int64_t steps = 300, seed = 0;
  boost::program_options::options_description flags("usage: tessera demo [options]");
  flags.add_options()("help,h", "this help")                                                     //
      ("steps", at_least(&steps, 1, "--steps")->default_value(steps), "full-batch training steps")  //
      ("seed", at_least(&seed, 0, "--seed")->default_value(seed), "random seed");
  if (parse_flags("demo", args, flags).count("help")) {
    std::cout << flags;
    return 0;
  }
  manual_seed(seed);
  Generator data_gen(seed + 1);
  auto [x, y] = spiral(100, data_gen);
  nn::Sequential model(nn::Linear(2, 64), nn::ReLU(), nn::Linear(64, 64), nn::ReLU(), nn::Linear(64, 3));
  optim::AdamW optimizer(model.parameters(), {.lr = 0.01, .weight_decay = 0.0});
  std::cout << model.str() << "\n" << model.num_parameters() << " parameters; " << steps << " full-batch AdamW steps\n";
  for (int64_t step = 1; step <= steps; ++step) {
    optimizer.zero_grad();
    Tensor loss = cross_entropy(model(x), y);
    loss.backward();
    optimizer.step();
    if (step == 1 || step % 25 == 0 || step == steps) {
      NoGradGuard no_grad;
      const double accuracy = mean(eq(argmax(model(x), 1), y).to(DType::f32)).item<double>();
      std::printf("step %4lld  loss %.4f  accuracy %.3f\n", static_cast<long long>(step), loss.item<double>(), accuracy);
    }
  }
  return 0;
}

}  // namespace tessera::cli
