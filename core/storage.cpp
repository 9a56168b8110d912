#include "core/storage.h"

#include "core/backend_of.h"

namespace tessera {

Storage::Storage(size_t nbytes, Device device)
    : backend_(&backend_of(device)), data_(backend_->allocate(nbytes)), nbytes_(nbytes), device_(device) {}

Storage::~Storage() { backend_->deallocate(data_, nbytes_); }

}  // namespace tessera
