#pragma once
// HDF5 failures as tessera::Error. HDF5 reports errors on a per-thread error stack (thread-safe build) and by
// default prints it to stderr; we switch that printing off for every thread that calls HDF5 and put the stack's
// innermost messages into the exception instead, after a context naming the file and object.
#include <hdf5.h>

#include <string>

#include "core/check.h"

namespace tessera::io::h5 {

// Turns HDF5's automatic error printing off for the calling thread. Cheap after the first call per thread.
void silence_errors();

// The messages of the calling thread's HDF5 error stack, innermost (most specific) first, joined with "; ".
std::string error_stack_text();

}  // namespace tessera::io::h5

// Throws tessera::Error "<context...>: <HDF5's messages>" when an HDF5 call returns a negative value.
// The context is only formatted on failure.
#define TESSERA_H5_CHECK(result, ...)                                                                  \
  do {                                                                                                 \
    if ((result) < 0) [[unlikely]] {                                                                   \
      TESSERA_THROW(__VA_ARGS__, " (HDF5: ", ::tessera::io::h5::error_stack_text(), ")");              \
    }                                                                                                  \
  } while (0)
