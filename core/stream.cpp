#include "core/stream.h"

#include <cstdio>
#include <exception>

#include "core/log.h"
#include "core/backend_of.h"

namespace tessera {

namespace {
// Destructors never throw (one may run while an exception unwinds): a failure to release is reported and dropped.
template <typename Release>
void release_quietly(const char* what, Release release) {
  try {
    release();
  } catch (const std::exception& e) {
    log::warn("could not destroy {}: {}", what, e.what());
  }
}
}  // namespace

struct Stream::Owned {
  kernels::Backend* backend;
  kernels::StreamHandle handle;
  ~Owned() {
    release_quietly("a stream", [&] { backend->destroy_stream(handle); });
  }
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
  ~Owned() {
    release_quietly("an event", [&] { backend->destroy_event(handle); });
  }
};

Event::Event(Device device, bool timing) : device_(device) {
  kernels::Backend& backend = backend_of(device);
  owned_.reset(new Owned{&backend, timing ? backend.create_timing_event() : backend.create_event()});
}

void Event::record() { owned_->backend->record_event(owned_->handle); }
void Event::wait() const { owned_->backend->wait_event(owned_->handle); }
void Event::synchronize() const { owned_->backend->synchronize_event(owned_->handle); }
bool Event::query() const { return owned_->backend->query_event(owned_->handle); }
double Event::elapsed_ms(const Event& later) const { return owned_->backend->elapsed_ms(handle(), later.handle()); }
kernels::EventHandle Event::handle() const { return owned_->handle; }

}  // namespace tessera
