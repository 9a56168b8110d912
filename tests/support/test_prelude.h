#pragma once
// The test-support names that core test files use unqualified, brought into namespace tessera once here instead
// of a block of using-declarations at the top of every test file. Include only from test .cpp files.
#include <nlohmann/json.hpp>
#include <vector>

#include "core/core.h"
#include "tests/support/expect_error.h"
#include "tests/support/gradcheck.h"
#include "tests/support/torch_expr.h"
#include "tests/support/torch_ref.h"

namespace tessera {

using nlohmann::json;
using testing::expect_close;
using testing::expect_error;
using testing::expect_gradients_match;
using testing::noncontiguous_leaf;
using testing::random_leaf;
using testing::tensor_from_json;
using testing::tensor_to_json;
using testing::TorchExprCase;
using testing::transposed_tensor;
using testing::uniform_tensor;
using Inputs = std::vector<Tensor>;  // a test function's input tensors

}  // namespace tessera
