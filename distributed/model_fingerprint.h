#pragma once
// The model fingerprint: DistributedDataParallel's check, at construction, that every rank built the same model.
// Ranks whose parameters differ in name, shape, dtype or order would plan different buckets and then wait forever
// in mismatched all-reduces (or silently average unrelated tensors); this check turns that into one error, on every
// rank, naming the first difference and what each rank has there.
#include <string>
#include <vector>

#include "core/nn/module.h"
#include "distributed/communicator.h"

namespace tessera::dist {

// One line per parameter and buffer, in registration order: "parameter 'fc1.weight' [256, 784] f32",
// "frozen parameter ...", "buffer 'bn.running_mean' [16] f32".
std::vector<std::string> describe_model(const nn::Module& module);

// Collective: compares `entries` (e.g. describe_model plus the options every rank must share) across all ranks
// of `comm`. Returns normally when all ranks agree; otherwise throws, on every rank, an error naming the first
// differing entry (0-based, in registration order) and each rank's entry there, prefixed by `what` and followed by
// `advice`. Costs one small all-reduce when the ranks agree.
void check_same_on_all_ranks(Communicator& comm, const std::vector<std::string>& entries, const std::string& what,
                             const std::string& advice = "Every rank must build the same model with the same options.");

}  // namespace tessera::dist
