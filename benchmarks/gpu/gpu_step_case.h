#pragma once
// One case of the GPU step benchmarks (gpu_step times it, work_per_step counts its launches): a model of
// gpu_step_models.h at a batch size and precision, and the training step both run on it (forward and cross-entropy,
// under bf16 or f16 autocast when asked; backward, through amp::GradScaler under f16; AdamW).
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "benchmarks/gpu/gpu_step_models.h"
#include "core/amp/autocast.h"
#include "core/amp/grad_scaler.h"
#include "core/core.h"
#include "core/optim/optim.h"

namespace tessera::bench {

struct StepCase {
  std::string model;
  int64_t batch;
  std::string precision;  // f32; bf16 or f16: forward and loss under autocast, f32 master weights (f16: loss scaling)
  std::string key() const {
    return model + ":" + std::to_string(batch) + (precision == "f32" ? "" : ":" + precision);
  }
};

// "model:batch[:bf16|:f16],..." as cases; `program` names the caller in errors.
inline std::vector<StepCase> parse_step_cases(const std::string& list, const std::string& program) {
  std::vector<StepCase> cases;
  std::stringstream in(list);
  for (std::string item; std::getline(in, item, ',');) {
    const size_t colon = item.find(':'), second = item.find(':', colon + 1);
    TESSERA_CHECK(colon != std::string::npos, program, ": --cases item '", item, "' is not model:batch[:bf16|:f16]");
    const std::string precision = second == std::string::npos ? "f32" : item.substr(second + 1);
    TESSERA_CHECK(precision == "f32" || precision == "bf16" || precision == "f16", program, ": --cases item '", item,
                  "': precision must be f32, bf16 or f16");
    cases.push_back({item.substr(0, colon), std::stoll(item.substr(colon + 1, second - colon - 1)), precision});
  }
  return cases;
}

// The case's model on `device` with AdamW and one random batch; run() is one training step, `loss` its loss.
class CaseTraining {
 public:
  CaseTraining(const StepCase& c, Device device)
      : low_precision_(c.precision == "bf16"  ? std::optional<DType>(DType::bf16)
                       : c.precision == "f16" ? std::optional<DType>(DType::f16)
                                              : std::nullopt),
        scaler_({.enabled = c.precision == "f16"}),
        model_([&] {
          auto model = make_gpu_step_model(c.model);
          model->to(device);
          return model;
        }()),
        optimizer_(model_->parameters(), {.lr = 1e-3, .weight_decay = 0.01}),
        x_(randn({c.batch, 1, 28, 28}, default_generator(), {.device = device})),
        y_(randint(0, 10, {c.batch}, default_generator(), {.dtype = DType::i64, .device = device})) {}

  void run() {
    optimizer_.zero_grad();
    {
      const amp::AutocastGuard autocast(low_precision_.value_or(DType::bf16), low_precision_.has_value());
      loss = cross_entropy((*model_)(x_), y_);
    }
    scaler_.scale(loss).backward();
    scaler_.step(optimizer_);
    scaler_.update();
  }

  Tensor loss;

 private:
  std::optional<DType> low_precision_;  // autocast's dtype, if any
  amp::GradScaler scaler_;              // f16 only; a pass-through otherwise
  std::shared_ptr<nn::Sequential> model_;
  optim::AdamW optimizer_;
  Tensor x_, y_;
};

}  // namespace tessera::bench
