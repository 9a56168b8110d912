#include "core/model/summary.h"

#include <cstdio>
#include <sstream>

namespace tessera::model {

namespace {

std::string thousands(int64_t value) {
  std::string digits = std::to_string(value), out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

std::string padded(const std::string& text, size_t width, bool right_align = false) {
  if (text.size() >= width) return text + " ";
  const std::string pad(width - text.size(), ' ');
  return right_align ? pad + text : text + pad;
}

}  // namespace

std::string summary(const BuiltSequential& model) {
  std::ostringstream out;
  const std::string rule(66, '-');
  std::string input = "(N";
  for (int64_t size : model.sample_shape) input += ", " + std::to_string(size);
  out << "Sequential, input " << input << ")\n" << rule << "\n"
      << padded("Layer (type)", 26) << padded("Output Shape", 26) << padded("Param #", 14, true) << "\n"
      << rule << "\n";
  for (const auto& layer : model.layers) {
    std::string shape = "(N";
    for (int64_t size : layer.output_shape) shape += ", " + std::to_string(size);
    out << padded(layer.name + " (" + layer.type + ")", 26) << padded(shape + ")", 26)
        << padded(thousands(layer.parameters), 14, true) << "\n";
  }
  const int64_t total = model.module->num_parameters();
  const int64_t trainable = model.module->num_parameters(true);
  char size[32];
  std::snprintf(size, sizeof(size), "%.2f KiB", total * 4.0 / 1024.0);  // f32 parameters
  out << rule << "\nTotal params: " << thousands(total) << " (" << size << ")\nTrainable params: "
      << thousands(trainable) << "\nNon-trainable params: " << thousands(total - trainable) << "\n";
  return out.str();
}

}  // namespace tessera::model
