#pragma once
// Warnings Model gives on the main rank. Their own file because core/log.h's namespace log and the log op of
// core/ops.h cannot meet in one translation unit.
#include <cstdint>

namespace tessera::model {

// Under several ranks, a source hands every rank all samples (BatchSource::split_unspecified): each rank then trains
// on, or evaluates, the same batches. use: "fit" or "evaluate".
void warn_unsplit_data(const char* use, int ranks);
// fit had nothing to train: `epochs` is the epoch to train up to (as Keras's with initial_epoch), not how many more,
// and the model is there already; or max_steps was reached.
void warn_nothing_to_train(int64_t epoch, int64_t step, int64_t epochs, int64_t max_steps);

}  // namespace tessera::model
