#pragma once
// Umbrella header of the core library: tensors, autograd and every op. nn and optim have their own
// (core/nn/nn.h, core/optim/optim.h).
#include "core/autograd/grad_mode.h"
#include "core/backend_of.h"
#include "core/autograd/node.h"
#include "core/check.h"
#include "core/dtype.h"
#include "core/generator.h"
#include "core/memory.h"
#include "core/ops.h"
#include "core/stream.h"
#include "core/tensor.h"
