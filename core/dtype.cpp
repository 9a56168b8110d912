#include "core/dtype.h"

#include <bit>

namespace tessera {

DType default_float() { return DType::f32; }

namespace {
// Rank of a type within its category; the wider one wins.
int category(DType d) { return d == DType::boolean ? 0 : (is_integral(d) ? 1 : 2); }
int width(DType d) {
  switch (d) {
    case DType::boolean: return 0;
    case DType::u8: return 1;
    case DType::i32: return 3;
    case DType::i64: return 4;
    case DType::f16: return 1;
    case DType::bf16: return 2;
    case DType::f32: return 3;
    case DType::f64: return 4;
  }
  return 0;
}
}  // namespace

DType promote_types(DType a, DType b) {
  if (a == b) return a;
  if (category(a) != category(b)) return category(a) > category(b) ? a : b;
  if ((a == DType::f16 && b == DType::bf16) || (a == DType::bf16 && b == DType::f16)) return DType::f32;
  return width(a) >= width(b) ? a : b;
}

DType promote_with_zero_dim(DType dimensioned, DType zero_dim) {
  return category(zero_dim) > category(dimensioned) ? promote_types(dimensioned, zero_dim) : dimensioned;
}

bool can_cast(DType from, DType to) { return category(from) <= category(to); }

}  // namespace tessera
