#include "core/storage.h"

#include "core/backend_of.h"

namespace tessera {

Storage::Storage(size_t nbytes, Device device)
    : backend_(&backend_of(device)), data_(backend_->allocate(nbytes)), nbytes_(nbytes), device_(device) {}

Storage::Storage(size_t nbytes, PinnedFor pinned)
    : backend_(&backend_of(Device())),
      pinned_by_(&backend_of(pinned.accelerator)),
      data_(pinned_by_->allocate_pinned_host(nbytes)),
      nbytes_(nbytes),
      device_(Device()) {}

Storage::~Storage() {
  if (pinned_by_)
    pinned_by_->free_pinned_host(data_, nbytes_);
  else
    backend_->deallocate(data_, nbytes_);
}

}  // namespace tessera
