#include "io/hdf5/element_type.h"

#include "core/check.h"

namespace tessera::io::h5 {

const char* element_type_name(ElementType type) {
  static const char* const names[] = {"u8", "i8", "u16", "i16", "u32", "i32", "u64", "i64", "f16", "f32", "f64"};
  return names[static_cast<int>(type)];
}

size_t element_type_size(ElementType type) {
  static const size_t sizes[] = {1, 1, 2, 2, 4, 4, 8, 8, 2, 4, 8};
  return sizes[static_cast<int>(type)];
}

ElementType element_type_of(hid_t datatype, const char* what) {
  const size_t size = H5Tget_size(datatype);
  switch (H5Tget_class(datatype)) {
    case H5T_INTEGER: {
      const bool is_signed = H5Tget_sign(datatype) == H5T_SGN_2;
      switch (size) {
        case 1: return is_signed ? ElementType::i8 : ElementType::u8;
        case 2: return is_signed ? ElementType::i16 : ElementType::u16;
        case 4: return is_signed ? ElementType::i32 : ElementType::u32;
        case 8: return is_signed ? ElementType::i64 : ElementType::u64;
        default: break;
      }
      break;
    }
    case H5T_FLOAT:
      switch (size) {
        case 2: return ElementType::f16;
        case 4: return ElementType::f32;
        case 8: return ElementType::f64;
        default: break;
      }
      break;
    case H5T_ENUM:  // h5py writes numpy bools as an enum over i8
      if (size == 1) return ElementType::i8;
      break;
    default: break;
  }
  TESSERA_THROW(what, ": unsupported element type (class ", static_cast<int>(H5Tget_class(datatype)), ", ", size,
                " bytes); expected an integer or float of 1 to 8 bytes");
}

hid_t native_memory_type(ElementType type) {
  switch (type) {
    case ElementType::u8: return H5T_NATIVE_UINT8;
    case ElementType::i8: return H5T_NATIVE_INT8;
    case ElementType::u16: return H5T_NATIVE_UINT16;
    case ElementType::i16: return H5T_NATIVE_INT16;
    case ElementType::u32: return H5T_NATIVE_UINT32;
    case ElementType::i32: return H5T_NATIVE_INT32;
    case ElementType::u64: return H5T_NATIVE_UINT64;
    case ElementType::i64: return H5T_NATIVE_INT64;
    case ElementType::f16:
    case ElementType::f32: return H5T_NATIVE_FLOAT;
    case ElementType::f64: return H5T_NATIVE_DOUBLE;
  }
  TESSERA_THROW("native_memory_type: unknown element type");
}

ElementType staging_type(ElementType type) { return type == ElementType::f16 ? ElementType::f32 : type; }

ElementType element_type_for(DType dtype) {
  switch (dtype) {
    case DType::u8: return ElementType::u8;
    case DType::i32: return ElementType::i32;
    case DType::i64: return ElementType::i64;
    case DType::f32: return ElementType::f32;
    case DType::f64: return ElementType::f64;
    default: TESSERA_THROW("no HDF5 element type for a ", dtype_name(dtype), " tensor");
  }
}

}  // namespace tessera::io::h5
