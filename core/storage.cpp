#include "core/storage.h"

#include <cstdlib>
#include <new>

#include "core/check.h"

namespace tessera {

Storage::Storage(size_t nbytes, Device device) : nbytes_(nbytes), device_(device) {
  TESSERA_CHECK(device.is_cpu(), "storage on ", device.str(), " needs a CUDA build with a GPU");
  // 64-byte alignment suits AVX-512 loads and BLAS; round the size up as aligned_alloc requires.
  const size_t rounded = ((nbytes + 63) / 64) * 64;
  data_ = std::aligned_alloc(64, rounded == 0 ? 64 : rounded);
  if (data_ == nullptr) throw std::bad_alloc();
}

Storage::~Storage() { std::free(data_); }

}  // namespace tessera
