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

const std::string kRule(66, '-');

std::string table_head(const std::string& title) {
  return title + "\n" + kRule + "\n" + padded("Layer (type)", 26) + padded("Output Shape", 26) +
         padded("Param #", 14, true) + "\n" + kRule + "\n";
}

std::string table_row(const std::string& layer, const std::string& shape, int64_t parameters) {
  return padded(layer, 26) + padded(shape, 26) + padded(thousands(parameters), 14, true) + "\n";
}

std::string totals(const nn::Module& module) {
  const int64_t total = module.num_parameters();
  const int64_t trainable = module.num_parameters(true);
  char size[32];
  std::snprintf(size, sizeof(size), "%.2f KiB", total * 4.0 / 1024.0);  // f32 parameters
  return kRule + "\nTotal params: " + thousands(total) + " (" + size + ")\nTrainable params: " +
         thousands(trainable) + "\nNon-trainable params: " + thousands(total - trainable) + "\n";
}

}  // namespace

std::string summary(const BuiltSequential& model) {
  std::string input = "(N";
  for (int64_t size : model.sample_shape) input += ", " + std::to_string(size);
  std::string out = table_head("Sequential, input " + input + ")");
  for (const auto& layer : model.layers) {
    std::string shape = "(N";
    for (int64_t size : layer.output_shape) shape += ", " + std::to_string(size);
    out += table_row(layer.name + " (" + layer.type + ")", shape + ")", layer.parameters);
  }
  return out + totals(*model.module);
}

std::string summary(const nn::Module& module) {
  std::string out = table_head(module.type_name());
  int64_t in_children = 0;
  for (const auto& [name, child] : module.named_children()) {
    out += table_row(name + " (" + child->type_name() + ")", "?", child->num_parameters());
    in_children += child->num_parameters();
  }
  if (const int64_t own = module.num_parameters() - in_children; own > 0)
    out += table_row("(own parameters)", "", own);
  return out + totals(module);
}

}  // namespace tessera::model
