#pragma once
// Umbrella header of tessera::optim: optimizers, learning-rate schedules and gradient clipping.
#include "core/optim/adam.h"
#include "core/optim/clip_grad.h"
#include "core/optim/lr_scheduler.h"
#include "core/optim/optimizer.h"
#include "core/optim/sgd.h"
