#pragma once
// Every op of the tensor library (the functional API, like torch.*).
#include "core/ops/factory.h"
#include "core/ops/index.h"
#include "core/ops/linalg.h"
#include "core/ops/nn_functional.h"
#include "core/ops/pointwise.h"
#include "core/ops/reduce.h"
#include "core/ops/view.h"
