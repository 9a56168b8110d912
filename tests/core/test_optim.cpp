// Tests of tessera::optim: SGD, Adam and AdamW over ~10 steps against PyTorch 1.13 with identical parameters and a
// fixed sequence of gradients (some steps without a gradient for some parameters), LR schedules against PyTorch's,
// clip_grad_norm_ against PyTorch, and state_dict round trips that continue identically.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <memory>

#include "core/core.h"
#include "core/graph.h"
#include "core/optim/optim.h"
#include "tests/support/test_prelude.h"

namespace tessera {
namespace {

json options_json(const optim::SGDOptions& o) {
  return {{"lr", o.lr},         {"momentum", o.momentum}, {"dampening", o.dampening}, {"weight_decay", o.weight_decay},
          {"nesterov", o.nesterov}, {"maximize", o.maximize}};
}
json options_json(const optim::AdamOptions& o) {
  return {{"lr", o.lr},   {"beta1", o.beta1}, {"beta2", o.beta2}, {"eps", o.eps}, {"weight_decay", o.weight_decay},
          {"amsgrad", o.amsgrad}, {"maximize", o.maximize}};
}
json options_json(const optim::AdamWOptions& o) {
  return {{"lr", o.lr},   {"beta1", o.beta1}, {"beta2", o.beta2}, {"eps", o.eps}, {"weight_decay", o.weight_decay},
          {"amsgrad", o.amsgrad}, {"maximize", o.maximize}};
}

using OptimizerFactory = std::function<std::unique_ptr<optim::Optimizer>(std::vector<Tensor>)>;
using SchedulerFactory = std::function<std::unique_ptr<optim::LRScheduler>(optim::Optimizer&)>;

template <typename O, typename Options>
std::pair<OptimizerFactory, json> make(const std::string& name, Options options) {
  OptimizerFactory factory = [options](std::vector<Tensor> params) {
    return std::make_unique<O>(std::move(params), options);
  };
  return {factory, {{"optimizer", name}, {"options", options_json(options)}}};
}

const Shape kShapes[] = {{3, 4}, {4}, {2, 2, 2}};
constexpr int kSteps = 10;

std::vector<Tensor> initial_params(DType dtype) {
  Generator gen(77);
  std::vector<Tensor> params;
  for (const Shape& s : kShapes) params.push_back(randn(s, gen, {.dtype = dtype}));
  return params;
}

// grads[step][param]; parameter 2 has no gradient for the first 3 steps and parameter 1 none at step 5.
std::vector<std::vector<Tensor>> gradient_sequence(DType dtype) {
  Generator gen(99);
  std::vector<std::vector<Tensor>> grads(kSteps);
  for (int step = 0; step < kSteps; ++step)
    for (size_t i = 0; i < std::size(kShapes); ++i) {
      Tensor g = randn(kShapes[i], gen, {.dtype = dtype});
      const bool absent = (i == 2 && step < 3) || (i == 1 && step == 5);
      grads[step].push_back(absent ? Tensor() : g);
    }
  return grads;
}

struct OptimCase {
  std::string name;
  DType dtype;
  OptimizerFactory optimizer;
  SchedulerFactory scheduler;  // may be empty
  json request;
};

std::vector<OptimCase>& optim_cases() {
  static std::vector<OptimCase> cases = [] {
    std::vector<OptimCase> c;
    auto add = [&](const std::string& name, std::pair<OptimizerFactory, json> opt, DType dtype = DType::f64,
                   SchedulerFactory scheduler = {}, json scheduler_spec = nullptr) {
      json request = opt.second;
      request["op"] = "optim";
      request["scheduler"] = scheduler_spec;
      for (const Tensor& p : initial_params(dtype)) request["params"].push_back(tensor_to_json(p));
      for (const auto& step : gradient_sequence(dtype)) {
        json row = json::array();
        for (const Tensor& g : step) row.push_back(g.defined() ? tensor_to_json(g) : json(nullptr));
        request["grads"].push_back(row);
      }
      c.push_back({name, dtype, opt.first, scheduler, request});
    };
    using optim::Adam;
    using optim::AdamOptions;
    using optim::AdamW;
    using optim::AdamWOptions;
    using optim::SGD;
    using optim::SGDOptions;
    add("sgd", make<SGD>("SGD", SGDOptions{.lr = 0.1}));
    add("sgd_momentum_dampening_wd",
        make<SGD>("SGD", SGDOptions{.lr = 0.05, .momentum = 0.9, .dampening = 0.1, .weight_decay = 0.01}));
    add("sgd_nesterov", make<SGD>("SGD", SGDOptions{.lr = 0.05, .momentum = 0.8, .weight_decay = 1e-3,
                                                    .nesterov = true}));
    add("sgd_maximize", make<SGD>("SGD", SGDOptions{.lr = 0.1, .momentum = 0.5, .maximize = true}));
    add("adam", make<Adam>("Adam", AdamOptions{.lr = 0.01}));
    add("adam_wd_amsgrad", make<Adam>("Adam", AdamOptions{.lr = 0.02, .beta1 = 0.8, .beta2 = 0.95, .eps = 1e-6,
                                                          .weight_decay = 0.1, .amsgrad = true}));
    add("adam_maximize", make<Adam>("Adam", AdamOptions{.lr = 0.01, .maximize = true}));
    add("adamw", make<AdamW>("AdamW", AdamWOptions{.lr = 0.01}));
    add("adamw_amsgrad", make<AdamW>("AdamW", AdamWOptions{.lr = 0.03, .beta1 = 0.85, .beta2 = 0.99,
                                                           .weight_decay = 0.2, .amsgrad = true}));
    add("sgd_momentum_f32", make<SGD>("SGD", SGDOptions{.lr = 0.05, .momentum = 0.9, .weight_decay = 0.01}),
        DType::f32);
    // PyTorch 1.13 negates the gradient before adding weight_decay * p (1.12 flipped the whole update instead), so
    // with maximize the decay still shrinks the parameters: every rule that has both terms, and decay without
    // momentum (the kDecay && !kMomentum instantiation), and Adam's coupled decay in f32.
    add("sgd_weight_decay_only", make<SGD>("SGD", SGDOptions{.lr = 0.1, .weight_decay = 0.05}));
    add("sgd_maximize_wd_nesterov", make<SGD>("SGD", SGDOptions{.lr = 0.05, .momentum = 0.9, .weight_decay = 0.02,
                                                                .nesterov = true, .maximize = true}));
    add("adam_maximize_wd_amsgrad", make<Adam>("Adam", AdamOptions{.lr = 0.01, .weight_decay = 0.1, .amsgrad = true,
                                                                   .maximize = true}));
    add("adamw_maximize", make<AdamW>("AdamW", AdamWOptions{.lr = 0.01, .weight_decay = 0.1, .maximize = true}));
    add("adam_wd_f32", make<Adam>("Adam", AdamOptions{.lr = 0.01, .weight_decay = 0.05}), DType::f32);
    add("adamw_f32", make<AdamW>("AdamW", AdamWOptions{.lr = 0.01, .amsgrad = true}), DType::f32);
    add("sgd_step_lr", make<SGD>("SGD", SGDOptions{.lr = 0.1, .momentum = 0.9}), DType::f64,
        [](optim::Optimizer& o) { return std::make_unique<optim::StepLR>(o, 3, 0.5); },
        {{"type", "StepLR"}, {"args", {{"step_size", 3}, {"gamma", 0.5}}}});
    add("adam_cosine", make<Adam>("Adam", AdamOptions{.lr = 0.02}), DType::f64,
        [](optim::Optimizer& o) {
          return std::make_unique<optim::WarmupCosineLR>(
              o, optim::WarmupCosineOptions{.warmup_steps = 0, .total_steps = 10, .min_lr = 1e-3});
        },
        {{"type", "CosineAnnealingLR"}, {"args", {{"T_max", 10}, {"eta_min", 1e-3}}}});
    add("adamw_warmup_cosine", make<AdamW>("AdamW", AdamWOptions{.lr = 0.02}), DType::f64,
        [](optim::Optimizer& o) {
          return std::make_unique<optim::WarmupCosineLR>(
              o, optim::WarmupCosineOptions{.warmup_steps = 3, .total_steps = 8, .min_lr = 1e-4});
        },
        {{"type", "WarmupCosine"}, {"args", {{"warmup_steps", 3}, {"total_steps", 8}, {"min_lr", 1e-4}}}});
    return c;
  }();
  return cases;
}

std::vector<Tensor> leaves(const std::vector<Tensor>& values) {
  std::vector<Tensor> out;
  for (const Tensor& v : values) out.push_back(v.clone().requires_grad_());
  return out;
}

void set_grads(const std::vector<Tensor>& params, const std::vector<Tensor>& grads) {
  for (size_t i = 0; i < params.size(); ++i) params[i].set_grad(grads[i].defined() ? grads[i].clone() : Tensor());
}

// --- clip_grad_norm_

struct ClipCase {
  double max_norm;
  double norm_type;
  DType dtype;
};
const ClipCase kClipCases[] = {{1.0, 2.0, DType::f64},     {100.0, 2.0, DType::f64}, {0.5, 1.0, DType::f64},
                               {0.3, optim::kInfNorm, DType::f64}, {2.0, 3.5, DType::f64}, {1.0, 2.0, DType::f32}};

// Gradients for parameters of kShapes plus one parameter without a gradient.
std::vector<Tensor> clip_params(DType dtype) {
  Generator gen(5);
  std::vector<Tensor> params;
  for (const Shape& s : kShapes) {
    Tensor p = zeros(s, {.dtype = dtype}).requires_grad_();
    p.set_grad(randn(s, gen, {.dtype = dtype}));
    params.push_back(p);
  }
  params.push_back(zeros({2}, {.dtype = dtype}).requires_grad_());
  return params;
}

json clip_request(const ClipCase& c) {
  json request = {{"op", "clip"}, {"max_norm", c.max_norm}};
  request["norm_type"] = std::isinf(c.norm_type) ? json("inf") : json(c.norm_type);
  for (const Tensor& p : clip_params(c.dtype)) {
    json g = p.grad().defined() ? tensor_to_json(p.grad()) : tensor_to_json(p);
    if (!p.grad().defined()) g["data"] = nullptr;
    request["grads"].push_back(g);
  }
  return request;
}

// PyTorch's answers for every case of this file, computed in one call on first use: the optimizer cases, then
// the clipping cases.
const json& torch_results() {
  static const json results = [] {
    json requests = json::array();
    for (const OptimCase& c : optim_cases()) requests.push_back(c.request);
    for (const ClipCase& c : kClipCases) requests.push_back(clip_request(c));
    return testing::run_torch_script("nn_optim.py", requests);
  }();
  return results;
}

void check_optim_case(const std::string& name) {
  auto& cases = optim_cases();
  size_t index = 0;
  while (index < cases.size() && cases[index].name != name) ++index;
  ASSERT_LT(index, cases.size()) << "no optimizer case " << name;
  const OptimCase& c = cases[index];
  const json& expected = torch_results()[index];
  const std::vector<Tensor> params = leaves(initial_params(c.dtype));
  const auto grads = gradient_sequence(c.dtype);
  auto optimizer = c.optimizer(params);
  auto scheduler = c.scheduler ? c.scheduler(*optimizer) : nullptr;
  const double atol = c.dtype == DType::f64 ? 1e-12 : 1e-6;
  const double rtol = c.dtype == DType::f64 ? 1e-9 : 1e-5;
  for (int step = 0; step < kSteps; ++step) {
    set_grads(params, grads[step]);
    optimizer->step();
    if (scheduler) scheduler->step();
    SCOPED_TRACE(name + ", step " + std::to_string(step));
    EXPECT_NEAR(optimizer->lr(), expected["lrs"][step].get<double>(), 1e-12 * optimizer->lr());
    for (size_t i = 0; i < params.size(); ++i) {
      SCOPED_TRACE("parameter " + std::to_string(i));
      expect_close(params[i], tensor_from_json(expected["params"][step][i]).to(c.dtype), atol, rtol);
    }
  }
  EXPECT_EQ(optimizer->step_count(0), kSteps);
  EXPECT_EQ(optimizer->step_count(1), kSteps - 1);
  EXPECT_EQ(optimizer->step_count(2), kSteps - 3);
}

#define EXPECT_OPTIM_MATCHES_TORCH(name)                                           \
  do {                                                                             \
    if (!testing::torch_available()) GTEST_SKIP() << "python3 with torch not available"; \
    check_optim_case(name);                                                        \
  } while (0)

TEST(OptimTorch, SGD) {
  EXPECT_OPTIM_MATCHES_TORCH("sgd");
  EXPECT_OPTIM_MATCHES_TORCH("sgd_momentum_dampening_wd");
  EXPECT_OPTIM_MATCHES_TORCH("sgd_nesterov");
  EXPECT_OPTIM_MATCHES_TORCH("sgd_maximize");
  EXPECT_OPTIM_MATCHES_TORCH("sgd_momentum_f32");
}
TEST(OptimTorch, Adam) {
  EXPECT_OPTIM_MATCHES_TORCH("adam");
  EXPECT_OPTIM_MATCHES_TORCH("adam_wd_amsgrad");
  EXPECT_OPTIM_MATCHES_TORCH("adam_maximize");
}
TEST(OptimTorch, AdamW) {
  EXPECT_OPTIM_MATCHES_TORCH("adamw");
  EXPECT_OPTIM_MATCHES_TORCH("adamw_amsgrad");
  EXPECT_OPTIM_MATCHES_TORCH("adamw_f32");
}
TEST(OptimTorch, MaximizeWithWeightDecay) {
  EXPECT_OPTIM_MATCHES_TORCH("sgd_weight_decay_only");
  EXPECT_OPTIM_MATCHES_TORCH("sgd_maximize_wd_nesterov");
  EXPECT_OPTIM_MATCHES_TORCH("adam_maximize_wd_amsgrad");
  EXPECT_OPTIM_MATCHES_TORCH("adamw_maximize");
  EXPECT_OPTIM_MATCHES_TORCH("adam_wd_f32");
}
TEST(OptimTorch, StepLR) { EXPECT_OPTIM_MATCHES_TORCH("sgd_step_lr"); }
TEST(OptimTorch, CosineAnnealing) { EXPECT_OPTIM_MATCHES_TORCH("adam_cosine"); }
TEST(OptimTorch, WarmupCosine) { EXPECT_OPTIM_MATCHES_TORCH("adamw_warmup_cosine"); }

TEST(OptimTorch, ClipGradNorm) {
  if (!testing::torch_available()) GTEST_SKIP() << "python3 with torch not available";
  const size_t first = optim_cases().size();
  for (size_t k = 0; k < std::size(kClipCases); ++k) {
    const ClipCase& c = kClipCases[k];
    SCOPED_TRACE("max_norm " + std::to_string(c.max_norm) + ", norm_type " + std::to_string(c.norm_type));
    const std::vector<Tensor> params = clip_params(c.dtype);
    const double rtol = c.dtype == DType::f64 ? 1e-12 : 1e-6;
    const double total = optim::clip_grad_norm_(params, c.max_norm, c.norm_type);
    const json& expected = torch_results()[first + k];
    const double expected_total = expected["total_norm"].get<double>();
    EXPECT_NEAR(total, expected_total, rtol * expected_total);
    for (size_t i = 0; i + 1 < params.size(); ++i)
      expect_close(params[i].grad(), tensor_from_json(expected["grads"][i]).to(c.dtype), 1e-7 * rtol, rtol);
    EXPECT_FALSE(params.back().grad().defined());
  }
}

TEST(Optim, ClipGradNormEdgeCases) {
  EXPECT_EQ(optim::clip_grad_norm_({zeros({3}).requires_grad_()}, 1.0), 0.0);  // no gradients
  Tensor p = zeros({2}, {.dtype = DType::f64}).requires_grad_();
  p.set_grad(tensor<double>({3.0, 4.0}));
  EXPECT_DOUBLE_EQ(optim::grad_norm({p}), 5.0);
  EXPECT_DOUBLE_EQ(p.grad().to_vector<double>()[0], 3.0);  // grad_norm does not clip
  p.set_grad(tensor<double>({INFINITY, 1.0}));
  EXPECT_THROW(optim::clip_grad_norm_({p}, 1.0, 2.0, /*error_if_nonfinite=*/true), Error);
  EXPECT_TRUE(std::isinf(p.grad().to_vector<double>()[0])) << "an error leaves the gradients alone";
  // Without the check, PyTorch's arithmetic (1.13): an infinite norm scales by 0 (inf * 0 is NaN), a NaN one by NaN.
  EXPECT_TRUE(std::isinf(optim::clip_grad_norm_({p}, 1.0)));
  EXPECT_TRUE(std::isnan(p.grad().to_vector<double>()[0]));
  EXPECT_EQ(p.grad().to_vector<double>()[1], 0.0);
  p.set_grad(tensor<double>({NAN, 1.0}));
  EXPECT_TRUE(std::isnan(optim::clip_grad_norm_({p}, 1.0, optim::kInfNorm)));
  EXPECT_TRUE(std::isnan(p.grad().to_vector<double>()[1]));
}

// torch.nn.utils.get_total_norm: any tensors, of any floating dtype and layout, their norm as one; a NaN or inf
// anywhere shows in the infinity norm (the checkpoint writer's non-finite check relies on it).
TEST(Optim, GetTotalNorm) {
  const Tensor a = tensor<float>({3.0f, -4.0f});
  const Tensor b = tensor<double>({1.0, 2.0, 2.0, 0.0}).reshape({2, 2}).transpose(0, 1);  // not contiguous
  const Tensor c = tensor<float>({-12.0f}).to(DType::bf16);
  EXPECT_DOUBLE_EQ(optim::get_total_norm({a, b, c}).item<double>(), std::sqrt(25.0 + 9.0 + 144.0));
  EXPECT_DOUBLE_EQ(optim::get_total_norm({a, b, c}, 1.0).item<double>(), 7.0 + 5.0 + 12.0);
  EXPECT_DOUBLE_EQ(optim::get_total_norm({a, b, c}, optim::kInfNorm).item<double>(), 12.0);
  EXPECT_EQ(optim::get_total_norm({}).item<double>(), 0.0);
  EXPECT_EQ(optim::get_total_norm({zeros({0})}, optim::kInfNorm).item<double>(), 0.0);
  EXPECT_TRUE(std::isnan(optim::get_total_norm({a, tensor<float>({INFINITY, NAN, 1.0f})}, optim::kInfNorm)
                             .item<double>()));
  EXPECT_TRUE(std::isinf(optim::get_total_norm({tensor<float>({1.0f, -INFINITY})}, optim::kInfNorm).item<double>()));
  expect_error([&] { optim::get_total_norm({a}, 0.0); }, {"get_total_norm", "norm_type must be positive"});
}

// Clipping queues device work and returns the norm as a device tensor: a graph captures it (the test device and a
// GPU refuse host waits while capturing), and replays clip as the eager call does.
TEST(Optim, ClipGradNormOnDeviceWaitsForNothing) {
  if (default_device().is_cpu()) GTEST_SKIP() << "the CPU runs eagerly: no graphs";
  Tensor p = zeros({3}, {.device = default_device()}).requires_grad_();
  const Tensor grad = tensor<float>({3.0f, 4.0f, 12.0f}).to(default_device());
  p.set_grad(grad.clone());
  Tensor total;
  DeviceGraph graph(default_device());
  graph.capture([&] { total = optim::clip_grad_norm_on_device_({p}, 6.5); });
  EXPECT_EQ(total.device(), default_device());
  for (int replay = 0; replay < 2; ++replay) {
    p.grad().copy_(grad);
    graph.replay();
    EXPECT_DOUBLE_EQ(total.item<double>(), 13.0);
    const std::vector<float> clipped = p.grad().to_vector<float>();
    EXPECT_NEAR(clipped[0], 1.5f, 1e-6f);
    EXPECT_NEAR(clipped[2], 6.0f, 1e-6f);
  }
}

// --- behaviour of the base class

TEST(Optim, SkipsParametersWithoutGradientAndBumpsVersions) {
  std::vector<Tensor> params = leaves({ones({3}, {.dtype = DType::f64}), ones({2}, {.dtype = DType::f64})});
  optim::Adam adam(params, {.lr = 0.1});
  params[0].set_grad(ones({3}, {.dtype = DType::f64}));
  const uint32_t v0 = params[0].version(), v1 = params[1].version();
  adam.step();
  EXPECT_GT(params[0].version(), v0);
  EXPECT_EQ(params[1].version(), v1);
  EXPECT_EQ(params[1].to_vector<double>(), (std::vector<double>{1.0, 1.0}));
  EXPECT_NEAR(params[0].to_vector<double>()[0], 0.9, 1e-7);  // first Adam step moves by ~lr
  EXPECT_EQ(adam.step_count(0), 1);
  EXPECT_EQ(adam.step_count(1), 0);
  const StateDict state = adam.state_dict();
  EXPECT_TRUE(state.contains("state.0.exp_avg"));
  EXPECT_FALSE(state.contains("state.1.step"));
  adam.zero_grad(/*set_to_none=*/false);
  EXPECT_EQ(params[0].grad().to_vector<double>(), (std::vector<double>{0, 0, 0}));
  adam.zero_grad();
  EXPECT_FALSE(params[0].grad().defined());
  adam.set_lr(0.5);
  EXPECT_EQ(adam.lr(), 0.5);
  EXPECT_EQ(adam.options().lr, 0.5);
  EXPECT_THROW(adam.set_lr(-1.0), Error);
}

// Adam whose step, while `fail_f64`, runs no kernels for its f32 group and then throws for its f64 group: a backend
// failing part way through a fused step.
class AdamFailingOnF64 : public optim::Adam {
 public:
  using optim::Adam::Adam;
  bool fail_f64 = true;
  void step() override {
    if (!fail_f64) return optim::Adam::step();
    fused_step([](size_t, int64_t, const Tensor& p, const Tensor& g) {
                 return kernels::OptimizerSlot{.param = p.raw_data(), .grad = g.raw_data(), .numel = p.numel()};
               },
               [](kernels::Backend&, DType dtype, const kernels::OptimizerSlot*, size_t, kernels::StepScalars) {
                 TESSERA_CHECK(dtype != DType::f64, "injected failure of the f64 group");
               });
  }
};

TEST(Optim, AGroupThatThrowsKeepsItsStepCounts) {
  std::vector<Tensor> params = leaves({ones({3}), ones({2}, {.dtype = DType::f64})});
  AdamFailingOnF64 adam(params, {.lr = 0.1});
  params[0].set_grad(ones({3}));
  params[1].set_grad(ones({2}, {.dtype = DType::f64}));
  const uint32_t v0 = params[0].version(), v1 = params[1].version();
  EXPECT_THROW(adam.step(), Error);
  // The f32 group ran: counted and marked written. The f64 group did not: as if the step had not happened for it.
  EXPECT_EQ(adam.step_count(0), 1);
  EXPECT_GT(params[0].version(), v0);
  EXPECT_EQ(adam.step_count(1), 0);
  EXPECT_EQ(params[1].version(), v1);
  EXPECT_TRUE(adam.state_dict().contains("state.0.step"));
  EXPECT_FALSE(adam.state_dict().contains("state.1.step"));
  // So the next step is parameter 1's first: Adam's first step moves by lr (a second step from zero moments by 0.74 lr).
  adam.fail_f64 = false;
  adam.step();
  EXPECT_EQ(adam.step_count(1), 1);
  EXPECT_NEAR(params[1].to_vector<double>()[0], 0.9, 1e-7);
}

TEST(Optim, InvalidOptionsAndParameters) {
  std::vector<Tensor> params = leaves({ones({3})});
  EXPECT_THROW(optim::SGD(params, {.lr = 0.1, .nesterov = true}), Error);  // nesterov needs momentum
  EXPECT_THROW(optim::Adam(params, {.beta1 = 1.0}), Error);
  EXPECT_THROW(optim::SGD({params[0], params[0]}, {}), Error);  // the same tensor twice
  Tensor strided = ones({4, 3}).t().requires_grad_();
  strided.set_grad(ones({3, 4}));
  optim::SGD sgd({strided}, {});
  expect_error([&] { sgd.step(); }, {"SGD.step", "parameter 0", "contiguous"});
}

// --- state_dict round trips

// Runs `steps` steps of the shared gradient sequence starting at `first`.
void run_steps(optim::Optimizer& opt, const std::vector<Tensor>& params, int first, int steps,
               optim::LRScheduler* scheduler = nullptr) {
  const auto grads = gradient_sequence(params[0].dtype());
  for (int s = first; s < first + steps; ++s) {
    set_grads(params, grads[s]);
    opt.step();
    if (scheduler) scheduler->step();
  }
}

template <typename O, typename Options>
void expect_round_trip_continues_identically(Options options) {
  const std::vector<Tensor> a = leaves(initial_params(DType::f64));
  O original(a, options);
  optim::StepLR schedule(original, 2, 0.7);
  run_steps(original, a, 0, 4, &schedule);
  // Restore into a fresh optimizer (and schedule) over copies of the parameters.
  std::vector<Tensor> b;
  for (const Tensor& p : a) b.push_back(p.detach().clone().requires_grad_());
  Options other = options;
  other.lr = 123.0;  // overwritten by the loaded state
  O restored(b, other);
  optim::StepLR restored_schedule(restored, 2, 0.7);
  restored.load_state_dict(original.state_dict());
  restored_schedule.load_state_dict(schedule.state_dict());
  EXPECT_EQ(restored.lr(), original.lr());
  EXPECT_EQ(restored.state_dict().keys(), original.state_dict().keys());
  run_steps(original, a, 4, 6, &schedule);
  run_steps(restored, b, 4, 6, &restored_schedule);
  for (size_t i = 0; i < a.size(); ++i) EXPECT_EQ(a[i].to_vector<double>(), b[i].to_vector<double>()) << i;
  EXPECT_EQ(restored.lr(), original.lr());
  EXPECT_EQ(restored_schedule.last_epoch(), 10);
}

TEST(OptimState, RoundTripContinuesIdentically) {
  expect_round_trip_continues_identically<optim::SGD>(optim::SGDOptions{.lr = 0.1, .momentum = 0.9, .nesterov = true});
  expect_round_trip_continues_identically<optim::Adam>(optim::AdamOptions{.lr = 0.01, .amsgrad = true});
  expect_round_trip_continues_identically<optim::AdamW>(optim::AdamWOptions{.lr = 0.01});
}

TEST(OptimState, KeysAndLoadErrors) {
  const std::vector<Tensor> params = leaves(initial_params(DType::f64));
  optim::Adam adam(params, {.lr = 0.01});
  run_steps(adam, params, 0, 4);
  const StateDict state = adam.state_dict();
  EXPECT_EQ(state.keys(), (std::vector<std::string>{
                              "optimizer.Adam", "options.lr", "options.beta1", "options.beta2", "options.eps",
                              "options.weight_decay", "options.amsgrad", "options.maximize", "state.0.step",
                              "state.0.exp_avg", "state.0.exp_avg_sq", "state.1.step", "state.1.exp_avg",
                              "state.1.exp_avg_sq", "state.2.step", "state.2.exp_avg", "state.2.exp_avg_sq"}));
  EXPECT_EQ(state.at("state.2.step").item<int64_t>(), 1);

  optim::SGD sgd(params, {.lr = 0.1, .momentum = 0.9});
  run_steps(sgd, params, 0, 1);
  expect_error([&] { adam.load_state_dict(sgd.state_dict()); }, {"not from a Adam optimizer", "SGD"});
  optim::AdamW adamw(params, {});
  expect_error([&] { adamw.load_state_dict(state); }, {"not from a AdamW optimizer", "Adam"});

  optim::Adam fewer({params[0], params[1]}, {});
  expect_error([&] { fewer.load_state_dict(state); }, {"holds 3 parameters", "has 2"});

  auto edited = [&](const std::string& key, const Tensor& value) {
    StateDict s;
    for (const auto& [k, v] : state) s.insert(k, k == key ? value : v);
    if (!s.contains(key)) s.insert(key, value);
    return s;
  };
  optim::Adam target(params, {.lr = 0.5});
  expect_error([&] { target.load_state_dict(edited("state.1.exp_avg", zeros({5}, {.dtype = DType::f64}))); },
                          {"\"state.1.exp_avg\"", "[5]", "[4]"});
  expect_error([&] { target.load_state_dict(edited("state.0.momentum_buffer", zeros({3, 4}))); },
                          {"unexpected key \"state.0.momentum_buffer\""});
  expect_error([&] { target.load_state_dict(edited("state.7.exp_avg", zeros({4}))); },
                          {"\"state.7.exp_avg\"", "parameter 7"});
  expect_error([&] { target.load_state_dict(edited("state.1.step", zeros({}, {.dtype = DType::i64}))); },
                          {"\"state.1.exp_avg\" comes without a positive \"state.1.step\"", "got 0"});
  expect_error([&] { target.load_state_dict(edited("options.momentum", scalar_tensor(0.9))); },
                          {"unexpected hyper-parameter \"options.momentum\""});
  StateDict no_beta;
  for (const auto& [k, v] : state)
    if (k != "options.beta2") no_beta.insert(k, v);
  expect_error([&] { target.load_state_dict(no_beta); }, {"missing hyper-parameter \"options.beta2\""});
  // Failed loads leave the optimizer unchanged.
  EXPECT_EQ(target.lr(), 0.5);
  EXPECT_EQ(target.step_count(0), 0);

  // Options are validated together, as PyTorch overwrites the whole group: a plain SGD's state loads into a
  // Nesterov SGD (momentum 0 and nesterov false arrive together), and an invalid option changes nothing.
  std::vector<Tensor> sgd_params = leaves({ones({2}, {.dtype = DType::f64})});
  optim::SGD plain(sgd_params, {.lr = 0.1});
  optim::SGD nesterov(sgd_params, {.lr = 0.5, .momentum = 0.9, .nesterov = true});
  nesterov.load_state_dict(plain.state_dict());
  EXPECT_EQ(nesterov.lr(), 0.1);
  EXPECT_FALSE(nesterov.options().nesterov);
  expect_error([&] { target.load_state_dict(edited("options.beta2", scalar_tensor(1.0, {.dtype = DType::f64}))); },
               {"invalid beta2"});
  EXPECT_EQ(target.lr(), 0.5);

  optim::StepLR step_lr(target, 2);
  optim::WarmupCosineLR cosine(adam, {.warmup_steps = 1, .total_steps = 5});
  expect_error([&] { cosine.load_state_dict(step_lr.state_dict()); },
                          {"not from a WarmupCosineLR scheduler"});
}

TEST(OptimSchedulers, ClosedForms) {
  std::vector<Tensor> params = leaves({ones({1})});
  optim::SGD sgd(params, {.lr = 1.0});
  optim::WarmupCosineLR schedule(sgd, {.warmup_steps = 4, .total_steps = 12, .min_lr = 0.1});
  EXPECT_DOUBLE_EQ(sgd.lr(), 0.25);  // epoch 0 of the warmup
  EXPECT_DOUBLE_EQ(schedule.lr_at(3), 1.0);
  EXPECT_DOUBLE_EQ(schedule.lr_at(4), 1.0);
  EXPECT_DOUBLE_EQ(schedule.lr_at(8), 0.55);
  EXPECT_DOUBLE_EQ(schedule.lr_at(12), 0.1);
  EXPECT_DOUBLE_EQ(schedule.lr_at(50), 0.1);
  for (int i = 0; i < 8; ++i) schedule.step();
  EXPECT_DOUBLE_EQ(schedule.last_lr(), 0.55);
  EXPECT_DOUBLE_EQ(sgd.lr(), 0.55);
  // A run no longer than its warmup only warms up (Hugging Face's schedule does the same); no steps is an error.
  const optim::WarmupCosineLR warming(sgd, {.warmup_steps = 5, .total_steps = 5});
  EXPECT_DOUBLE_EQ(warming.lr_at(4), warming.base_lr());
  EXPECT_DOUBLE_EQ(warming.lr_at(1), warming.base_lr() * 2 / 5);
  EXPECT_THROW(optim::WarmupCosineLR(sgd, {.warmup_steps = 5, .total_steps = 0}), Error);
  EXPECT_THROW(optim::WarmupCosineLR(sgd, {.warmup_steps = -1, .total_steps = 5}), Error);
  EXPECT_THROW(optim::StepLR(sgd, 0), Error);
}

}  // namespace
}  // namespace tessera
