#include "io/hdf5/element_type.h"

#include "core/check.h"
#include "io/hdf5/handle.h"

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
    case H5T_ENUM: {  // h5py writes numpy bools as an enum over i8; other enums (h5py.enum_dtype) read as their base
      DatatypeId base(H5Tget_super(datatype));
      if (base.valid()) return element_type_of(base.get(), what);
      break;
    }
    default: break;
  }
  TESSERA_THROW(what, " holds ", datatype_description(datatype), " elements; expected integers or floats of 1 to 8 ",
                "bytes", H5Tget_class(datatype) == H5T_STRING ? " (text class labels: store their indices instead, e.g. "
                "numpy's np.unique(names, return_inverse=True)[1], or convert with tessera data from-csv --label)" : "");
}

std::string datatype_description(hid_t datatype) {
  const size_t size = H5Tget_size(datatype);
  const std::string bytes = " (" + std::to_string(size) + (size == 1 ? " byte)" : " bytes)");
  switch (H5Tget_class(datatype)) {
    case H5T_INTEGER:
    case H5T_FLOAT: {
      // Only the sizes element_type_of takes: it describes the others through this function (a 1-byte float,
      // e.g. an FP8 type, recursed without end).
      const bool integer = H5Tget_class(datatype) == H5T_INTEGER;
      if (size == 2 || size == 4 || size == 8 || (integer && size == 1))
        return element_type_name(element_type_of(datatype, ""));
      return (integer ? "integer" : "float") + bytes;
    }
    case H5T_STRING: return H5Tis_variable_str(datatype) > 0 ? "variable-length string" : "string" + bytes;
    case H5T_COMPOUND: return "compound" + bytes;
    case H5T_ENUM: {  // h5py's bools are an enum over i8
      DatatypeId base(H5Tget_super(datatype));
      return base.valid() ? "enum over " + datatype_description(base.get()) : "enum" + bytes;
    }
    case H5T_OPAQUE: return "opaque" + bytes;
    case H5T_ARRAY: return "array" + bytes;
    case H5T_VLEN: return "variable-length sequence";
    case H5T_REFERENCE: return "reference";
    case H5T_BITFIELD: return "bitfield" + bytes;
    case H5T_TIME: return "time" + bytes;
    default: return "unknown type" + bytes;
  }
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
