#pragma once
// The HDF5 files of the io tests, written at test time by h5py (tests/io/make_h5_files.py), and the values numpy
// reads back from them: the reference every value read through the Loader is compared to.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>
#include <string>

#include "io/io.h"
#include "tests/support/torch_ref.h"

namespace tessera::testing {

// Written once per process into a fresh temporary directory, removed at exit; {"sets": {...}, "bad": {...}}.
inline const nlohmann::json& h5_files() {
  struct TemporaryDirectory {
    std::string path;
    TemporaryDirectory() {
      char name[] = "/tmp/tessera_io_test_XXXXXX";
      TESSERA_CHECK(mkdtemp(name) != nullptr, "cannot create a temporary directory");
      path = name;
    }
    ~TemporaryDirectory() {
      std::error_code ignored;
      std::filesystem::remove_all(path, ignored);
    }
  };
  static const TemporaryDirectory dir;
  static const nlohmann::json files =
      run_python_script(TESSERA_PYTHON, "tests/io/make_h5_files.py", {{"dir", dir.path}});
  return files;
}

inline std::vector<std::string> set_files(const std::string& set) {
  return h5_files()["sets"][set]["files"].get<std::vector<std::string>>();
}

// Compares every entry of `batch` (arrays "x" and "y") with numpy's rows of the set at the entry's global index.
// `x_key` is "x" (plain values) or "x_norm" (scale / mean / std applied); floats within `tolerance` (relative).
inline void expect_batch_matches(const io::Batch& batch, const nlohmann::json& set, const std::string& x_key = "x",
                                 double tolerance = 0) {
  const auto& x_ref = set[x_key];
  const auto& y_ref = set["y"];
  const Tensor x = batch["x"].to(DType::f64).contiguous(), y = batch["y"].to(DType::i64).contiguous();
  const int64_t row = x.numel() / std::max<int64_t>(batch.size(), 1);
  const double* px = x.data_ptr<double>();
  const int64_t* py = y.data_ptr<int64_t>();
  int mismatches = 0;
  for (int64_t i = 0; i < batch.size() && mismatches < 5; ++i) {
    const int64_t g = batch.indices[static_cast<size_t>(i)];
    if (py[i] != y_ref[g].get<int64_t>()) {
      ADD_FAILURE() << "y of sample " << g << ": " << py[i] << " != numpy's " << y_ref[g];
      ++mismatches;
    }
    for (int64_t j = 0; j < row; ++j) {
      const double expected = x_ref[g * row + j].get<double>(), actual = px[i * row + j];
      if (std::abs(actual - expected) > tolerance * std::max(1.0, std::abs(expected))) {
        ADD_FAILURE() << x_key << " of sample " << g << ", element " << j << ": " << actual << " != numpy's " << expected;
        if (++mismatches >= 5) break;
      }
    }
  }
}

}  // namespace tessera::testing
