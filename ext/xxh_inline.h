/* xxHash inlined into the core: every hash call compiles to straight-line code. */
#define XXH_INLINE_ALL
#include "xxhash/xxhash.h"
