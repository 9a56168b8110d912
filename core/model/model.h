#pragma once
// The Keras level of Tessera (DESIGN.md, "Core contracts"): models built from configs, summaries; Model with
// compile/fit/evaluate/predict comes with the Keras-level training issue.
#include "core/model/config_reader.h"
#include "core/model/sequential_builder.h"
#include "core/model/summary.h"
