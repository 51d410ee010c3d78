/* shared_lib.c - the one source of the shared library libdlcore (cmake/dlcoreInstall.cmake).
 *
 * Everything in libdlcore.so comes from the static library dlcore_c, linked in whole; this
 * file only gives CMake a source for the target and checks the public header compiles on its
 * own (no other include before it).
 */
#include "dlcore/dlcore.h"

/* A translation unit must declare something (ISO C); this one is internal and unused. */
typedef int dl_shared_lib_unit;
