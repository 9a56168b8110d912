#include "io/batch.h"

namespace tessera::io {

const Tensor& Batch::operator[](const std::string& name) const {
  for (size_t i = 0; i < names.size(); ++i) {
    if (names[i] == name) return tensors[i];
  }
  std::string known;
  for (const auto& n : names) known += (known.empty() ? "'" : ", '") + n + "'";
  TESSERA_THROW("batch has no array '", name, "' (it has ", known, ")");
}

}  // namespace tessera::io
