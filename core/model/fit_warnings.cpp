#include "core/model/fit_warnings.h"

#include <string>

#include "core/log.h"

namespace tessera::model {

void warn_unsplit_data(const char* use, int ranks) {
  log::warn("Model::{}: the data is not split across the {} ranks (a TensorBatchSource without world_size), so "
            "every rank {} the same batches; give TensorBatchSourceOptions world_size and rank (PyTorch's "
            "DistributedSampler split), or world_size 1 where each rank passes its own slice",
            use, ranks, std::string(use) == "fit" ? "trains on" : "evaluates");
}

void warn_nothing_to_train(int64_t epoch, int64_t step, int64_t epochs, int64_t max_steps) {
  if (max_steps >= 0 && step >= max_steps) {
    log::warn("Model::fit: nothing to train: {} steps taken, and max_steps is {}", step, max_steps);
    return;
  }
  log::warn("Model::fit: nothing to train: the model has trained {} epochs (step {}), and epochs = {} is the epoch "
            "to train up to, not how many more (as Keras's epochs with initial_epoch); ask for epochs = {} to train "
            "{} more", epoch, step, epochs, epoch + epochs, epochs);
}

}  // namespace tessera::model
