/* The library version as a string, for User-Agent headers. */
#ifndef PL_VERSION_H
#define PL_VERSION_H

#include "parley.h"

#define PL_STR2(x) #x
#define PL_STR(x) PL_STR2(x)
#define PL_VERSION_STRING                                                                  \
    PL_STR(PARLEY_VERSION_MAJOR) "." PL_STR(PARLEY_VERSION_MINOR) "." PL_STR(PARLEY_VERSION_PATCH)
#define PL_USER_AGENT "libparley/" PL_VERSION_STRING

#endif
