#include "core/stream.h"

#include "core/backend_of.h"

namespace tessera {

struct Stream::Owned {
  kernels::Backend* backend;
  kernels::StreamHandle handle;
  ~Owned() { backend->destroy_stream(handle); }
};

Stream::Stream(Device device, std::shared_ptr<Owned> owned, kernels::StreamHandle borrowed)
    : device_(device), owned_(std::move(owned)), borrowed_(borrowed) {}

Stream Stream::create(Device device) {
  kernels::Backend& backend = backend_of(device);
  return Stream(device, std::shared_ptr<Owned>(new Owned{&backend, backend.create_stream()}), nullptr);
}

Stream Stream::compute(Device device) { return Stream(device, nullptr, nullptr); }
Stream Stream::current(Device device) { return Stream(device, nullptr, backend_of(device).current_stream()); }

kernels::StreamHandle Stream::handle() const { return owned_ ? owned_->handle : borrowed_; }

void Stream::synchronize() const {
  StreamGuard guard(*this);
  backend_of(device_).synchronize();
}

StreamGuard::StreamGuard(const Stream& stream)
    : stream_(stream), previous_(backend_of(stream.device()).current_stream()) {
  backend_of(stream_.device()).set_current_stream(stream_.handle());
}

StreamGuard::~StreamGuard() { backend_of(stream_.device()).set_current_stream(previous_); }

struct Event::Owned {
  kernels::Backend* backend;
  kernels::EventHandle handle;
  ~Owned() { backend->destroy_event(handle); }
};

Event::Event(Device device) : device_(device) {
  kernels::Backend& backend = backend_of(device);
  owned_.reset(new Owned{&backend, backend.create_event()});
}

void Event::record() { owned_->backend->record_event(owned_->handle); }
void Event::wait() const { owned_->backend->wait_event(owned_->handle); }
void Event::synchronize() const { owned_->backend->synchronize_event(owned_->handle); }
bool Event::query() const { return owned_->backend->query_event(owned_->handle); }

}  // namespace tessera
