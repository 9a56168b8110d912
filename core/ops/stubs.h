#pragma once
// Temporary: declared ops not yet implemented throw this error (removed as each lands).
#include "core/check.h"
#define TESSERA_NOT_IMPLEMENTED(op) TESSERA_THROW(op, ": not implemented yet")
