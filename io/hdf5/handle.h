#pragma once
// Owning wrappers of HDF5 identifiers: one close function per kind of object, closed exactly once, move-only.
#include <hdf5.h>

#include <utility>

namespace tessera::io::h5 {

template <herr_t (*Close)(hid_t)>
class Handle {
 public:
  Handle() = default;
  explicit Handle(hid_t id) : id_(id) {}
  Handle(Handle&& other) noexcept : id_(std::exchange(other.id_, H5I_INVALID_HID)) {}
  Handle& operator=(Handle&& other) noexcept {
    if (this != &other) {
      reset();
      id_ = std::exchange(other.id_, H5I_INVALID_HID);
    }
    return *this;
  }
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  ~Handle() { reset(); }

  hid_t get() const { return id_; }
  bool valid() const { return id_ >= 0; }
  void reset() {
    if (id_ >= 0) Close(id_);
    id_ = H5I_INVALID_HID;
  }

 private:
  hid_t id_ = H5I_INVALID_HID;
};

using FileId = Handle<H5Fclose>;
using DatasetId = Handle<H5Dclose>;
using DataspaceId = Handle<H5Sclose>;
using PropertyListId = Handle<H5Pclose>;
using DatatypeId = Handle<H5Tclose>;
using AttributeId = Handle<H5Aclose>;

}  // namespace tessera::io::h5
