#pragma once
// Umbrella header of tessera::nn: the Module base, every layer, containers and init functions.
#include "core/nn/activation.h"
#include "core/nn/container.h"
#include "core/nn/conv.h"
#include "core/nn/dropout.h"
#include "core/nn/embedding.h"
#include "core/nn/flatten.h"
#include "core/nn/init.h"
#include "core/nn/linear.h"
#include "core/nn/module.h"
#include "core/nn/normalization.h"
#include "core/nn/pooling.h"
#include "core/nn/state_dict.h"
