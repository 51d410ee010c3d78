# wheels/zig/toolchain-aarch64.cmake - cross-compile dlcore for Linux aarch64 on an x86-64
# machine with zig's clang (wheels/zig/toolchain.cmake, DLCORE_ZIG_TARGET=aarch64-linux-gnu.2.17)
# and the aarch64 builds of LLVM's libomp (cmeel-libomp) and of OpenBLAS (scipy-openblas32),
# both unpacked from their manylinux aarch64 wheels (wheels/build_aarch64.sh does this):
#   DLCORE_LIBOMP_PREFIX  the aarch64 cmeel.prefix (include/omp.h, lib/libomp.so)
#   DLCORE_OPENBLAS_DIR   the aarch64 scipy_openblas32/lib/cmake/openblas folder; find_package
#                         takes OpenBLAS_DIR before the build interpreter's own (x86-64) copy.
# The Python side needs nothing cross: the extension uses the limited API (abi3), whose headers
# and pyconfig.h sizes are the same for x86-64 and aarch64 Linux (both LP64, glibc);
# Cython runs on the build machine. The built wheel says linux_x86_64: build_aarch64.sh retags it.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
include("${CMAKE_CURRENT_LIST_DIR}/toolchain.cmake")
if(NOT DEFINED ENV{DLCORE_OPENBLAS_DIR})
  message(FATAL_ERROR "wheels/zig/toolchain-aarch64.cmake: set DLCORE_OPENBLAS_DIR to the aarch64 "
                      "scipy_openblas32/lib/cmake/openblas (see wheels/build_aarch64.sh)")
endif()
set(OpenBLAS_DIR "$ENV{DLCORE_OPENBLAS_DIR}" CACHE PATH "")
