#pragma once
// Comparing against PyTorch: a test sends tensors and op descriptions as JSON to a Python script under
// tests/torch_ref/ (run by Debian's python3 with python3-torch), which answers with PyTorch's results.
// Batch all cases of a test file into one call: importing torch costs about a second.
#include <nlohmann/json.hpp>
#include <string>

#include "core/core.h"

namespace tessera::testing {

// {"shape": [...], "dtype": "f32", "data": [flat row-major values]}; NaN and infinities as "nan", "inf", "-inf".
nlohmann::json tensor_to_json(const Tensor& t);
Tensor tensor_from_json(const nlohmann::json& j);

// Runs tests/torch_ref/<script> with `input` on stdin and returns its JSON stdout. Throws with the script's
// stderr when it fails.
nlohmann::json run_torch_script(const std::string& script, const nlohmann::json& input);

// Runs `python` on <source dir>/<script> (a path relative to the source tree) the same way: JSON in, JSON out.
// For other independent readers: h5py, TensorBoard (TESSERA_TEST_VENV_PYTHON).
nlohmann::json run_python_script(const std::string& python, const std::string& script, const nlohmann::json& input);

// True when the reference Python has torch (tests skip with GTEST_SKIP otherwise).
bool torch_available();

}  // namespace tessera::testing
