#include "tests/support/torch_ref.h"

#include <cmath>
#include <cstdio>
#include <limits>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <unistd.h>

namespace tessera::testing {

namespace {

// JSON has no NaN or infinity: they travel as the strings "nan", "inf" and "-inf" (common.py reads and writes them).
nlohmann::json floating_to_json(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  return v;
}

double floating_from_json(const nlohmann::json& j) {
  if (!j.is_string()) return j.get<double>();
  const std::string text = j.get<std::string>();
  TESSERA_CHECK(text == "nan" || text == "inf" || text == "-inf", "tensor_from_json: unexpected value '", text, "'");
  return text == "nan" ? std::numeric_limits<double>::quiet_NaN()
                       : (text == "inf" ? 1.0 : -1.0) * std::numeric_limits<double>::infinity();
}

}  // namespace

nlohmann::json tensor_to_json(const Tensor& t) {
  nlohmann::json j;
  j["shape"] = t.shape();
  j["dtype"] = dtype_name(t.dtype());
  if (!is_floating(t.dtype())) {
    j["data"] = t.to_vector<int64_t>();
    return j;
  }
  j["data"] = nlohmann::json::array();
  for (double v : t.to_vector<double>()) j["data"].push_back(floating_to_json(v));
  return j;
}

Tensor tensor_from_json(const nlohmann::json& j) {
  const Shape shape = j.at("shape").get<Shape>();
  const std::string dtype = j.at("dtype").get<std::string>();
  for (DType d : {DType::f32, DType::f64, DType::bf16, DType::f16, DType::i32, DType::i64, DType::u8, DType::boolean}) {
    if (dtype != dtype_name(d)) continue;
    if (is_floating(d)) {
      std::vector<double> values;
      for (const auto& v : j.at("data")) values.push_back(floating_from_json(v));
      return tensor(values, shape).to(d);
    }
    return tensor(j.at("data").get<std::vector<int64_t>>(), shape).to(d);
  }
  TESSERA_THROW("tensor_from_json: unknown dtype ", dtype);
}

namespace {
std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}
std::string temp_path(const char* tag) {
  return std::string("/tmp/tessera_torch_") + tag + "_" + std::to_string(getpid()) + "_" +
         std::to_string(reinterpret_cast<uintptr_t>(&tag) & 0xffff);
}
}  // namespace

nlohmann::json run_torch_script(const std::string& script, const nlohmann::json& input) {
  return run_python_script(TESSERA_PYTHON, "tests/torch_ref/" + script, input);
}

nlohmann::json run_python_script(const std::string& python, const std::string& script, const nlohmann::json& input) {
  const std::string in_path = temp_path("in"), out_path = temp_path("out"), err_path = temp_path("err");
  std::ofstream(in_path) << input.dump();
  const std::string command = python + " " + TESSERA_SOURCE_DIR + "/" + script + " < " + in_path + " > " + out_path +
                              " 2> " + err_path;
  const int status = std::system(command.c_str());
  const std::string out = read_file(out_path), err = read_file(err_path);
  std::remove(in_path.c_str());
  std::remove(out_path.c_str());
  std::remove(err_path.c_str());
  TESSERA_CHECK(status == 0, "reference script ", script, " failed (status ", status, "):\n", err);
  return nlohmann::json::parse(out);
}

bool torch_available() {
  static const bool available =
      std::system((std::string(TESSERA_PYTHON) + " -c 'import torch' > /dev/null 2>&1").c_str()) == 0;
  // Every PyTorch comparison skips without torch, and a skipped test passes in ctest's count: where the runner
  // promises torch (launch/test.sh, hence CI), its absence is a failure of each comparison, not a quiet skip.
  const char* required = std::getenv("TESSERA_REQUIRE_TEST_DEPS");
  TESSERA_CHECK(available || required == nullptr || std::string(required) == "0",
                "TESSERA_REQUIRE_TEST_DEPS is set but ", TESSERA_PYTHON,
                " cannot import torch: every PyTorch comparison would be skipped");
  return available;
}

}  // namespace tessera::testing
