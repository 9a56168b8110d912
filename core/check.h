#pragma once
// tessera::Error and TESSERA_CHECK live in the lowest layer (kernels/common/check.h), so kernels throw the same
// error type; this header keeps core's include path.
#include "kernels/common/check.h"
