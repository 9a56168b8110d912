#pragma once
// `init_from` in a `tessera train` config: a fresh run starts from another run's weights (fine-tuning), as Keras's
// load_weights before fit or PyTorch's load_state_dict before the loop. Only parameters and buffers are taken; the
// optimizer, schedule, progress and RNG start afresh. A resumed run ignores it (its own checkpoint decides).
#include "core/model/model.h"
#include "core/model/train_config.h"

namespace tessera::cli {

// Loads the checkpoint (verified: CRC32C, finite), then every tensor of the model not excluded by a prefix must be
// in it with the same shape; an error names the file and the tensor otherwise. Returns the number loaded.
size_t init_from_checkpoint(model::Model& model, const model::InitFromConfig& config);

// The weights of checkpoint `path` into the model (evaluate, predict, export): every tensor, with its shape. An error
// names the file (and the tensors that do not fit: a checkpoint of another model, a config whose model changed, or
// data whose samples differ from the training data's: `sample_shape`, which the model was built for, says which).
void load_model_weights(model::Model& model, const std::string& path, const Shape& sample_shape);

}  // namespace tessera::cli
