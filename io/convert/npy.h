#pragma once
// NumPy's .npy format (numpy.lib.format, versions 1-3): the magic "\x93NUMPY", a version, a header length, then a
// Python dict literal {'descr': '<f4', 'fortran_order': False, 'shape': (n, ...)} and the raw elements. .npz is a
// zip archive (stored by np.savez, deflated by np.savez_compressed) of such files, one per array, read with
// libzip. Element types: bool (read as u8), u1/i1, u2/i2, u4/i4, u8/i8, f4, f8, either byte order (big-endian
// elements are swapped). Fortran-ordered arrays, float16, strings and objects are errors naming the file.
#include <string>
#include <vector>

#include "io/convert/labelled_arrays.h"

namespace tessera::io {

// `bytes` is a whole .npy file; `name` labels errors ("x.npy", "data.npz member 'x'"). In memory.
RowArray parse_npy(const std::string& bytes, const std::string& name);
// Reads the header only: the rows stay in the file and are read as they are written out (RowArray::file), so an
// array larger than memory converts. An .npz member is read into memory (zip members are compressed streams).
RowArray read_npy(const std::string& path);
// The array saved under `key` (np.savez(path, key=array) stores it as the member key.npy); an error lists the
// keys the archive has.
RowArray read_npz(const std::string& path, const std::string& key);

}  // namespace tessera::io
