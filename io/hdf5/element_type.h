#pragma once
// The element types a dataset in a file may have (what h5py and other writers produce), and how each maps to a
// native HDF5 memory type. f16 has no native C type in HDF5 1.10: it is read as f32 (HDF5 converts).
#include <hdf5.h>

#include <cstddef>
#include <string>

#include "core/dtype.h"

namespace tessera::io::h5 {

enum class ElementType { u8, i8, u16, i16, u32, i32, u64, i64, f16, f32, f64 };

const char* element_type_name(ElementType type);  // "u8", ..., "f64"
size_t element_type_size(ElementType type);
// The element type of an HDF5 datatype; throws (naming `what`) for strings, compounds and other non-numbers.
ElementType element_type_of(hid_t datatype, const char* what);
// What an HDF5 datatype holds, for messages and `tessera data inspect`: "f32", ..., or "string (3 bytes)",
// "variable-length string", "compound (12 bytes)", "enum (1 byte)", ...
std::string datatype_description(hid_t datatype);
// The native HDF5 memory type to read `type` into without loss (f16 -> native float).
hid_t native_memory_type(ElementType type);
// The element type data arrives in when read with native_memory_type(type): `type` itself except f16 -> f32.
ElementType staging_type(ElementType type);
// The file element type matching a tensor dtype (for writers); bool and bf16 have none.
ElementType element_type_for(DType dtype);

// Calls f.template operator()<T>() with T the C++ type of a staging element type (never f16).
template <typename F>
decltype(auto) dispatch_staging(ElementType type, F&& f) {
  switch (type) {
    case ElementType::u8: return f.template operator()<uint8_t>();
    case ElementType::i8: return f.template operator()<int8_t>();
    case ElementType::u16: return f.template operator()<uint16_t>();
    case ElementType::i16: return f.template operator()<int16_t>();
    case ElementType::u32: return f.template operator()<uint32_t>();
    case ElementType::i32: return f.template operator()<int32_t>();
    case ElementType::u64: return f.template operator()<uint64_t>();
    case ElementType::i64: return f.template operator()<int64_t>();
    case ElementType::f32: return f.template operator()<float>();
    case ElementType::f64: return f.template operator()<double>();
    case ElementType::f16: break;
  }
  TESSERA_THROW("dispatch_staging: f16 is read as f32, never staged as f16");
}

}  // namespace tessera::io::h5
