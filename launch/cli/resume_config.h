#pragma once
// `--resume` with a config that differs from the one the checkpoint recorded (`--set optimizer.lr=0.01`, or an
// edited config file): the config decides the settings, the checkpoint the state (issue 14, item 9).
//  - Every setting that differs from the checkpoint's recorded config is printed on the main rank, one line each:
//    "override on resume: optimizer.lr 0.001 -> 0.01".
//  - The optimizer's hyper-parameters (the checkpoint's options.*) and the schedule's base rate take the config's
//    values: loading the checkpoint would otherwise put the recorded ones back and drop the override silently. So
//    does a changed optimizer.lr over the rate ReduceLROnPlateau had set (its recorded "lr" is dropped).
//  - Settings the checkpoint's state is bound to cannot change: optimizer.type and schedule.type (their state is
//    another kind's) and seed (the RNG and the sampler order come from the checkpoint). An error names the key.
#include <nlohmann/json.hpp>

#include "core/model/model.h"
#include "io/training/checkpoint.h"

namespace tessera::cli {

// `config` is the run's resolved config; `model` is compiled with it (its fresh optimizer holds the config's
// hyper-parameters). Changes `checkpoint` so that restoring it applies the config's settings.
void apply_config_on_resume(io::Checkpoint& checkpoint, const nlohmann::json& config, const model::Model& model,
                            bool print);

}  // namespace tessera::cli
