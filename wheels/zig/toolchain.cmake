# wheels/zig/toolchain.cmake - build dlcore with zig's clang (wheels/zig/cc) against an old
# glibc (DLCORE_ZIG_TARGET, default x86_64-linux-gnu.2.17: manylinux2014) and LLVM's OpenMP
# runtime from the PyPI package cmeel-libomp, whose prefix (holding include/omp.h and
# lib/libomp.so) is in the environment variable DLCORE_LIBOMP_PREFIX. Used by
# wheels/build.sh --all and by cibuildwheel on Linux (pyproject.toml):
#   CMAKE_TOOLCHAIN_FILE=wheels/zig/toolchain.cmake pip wheel .
set(CMAKE_C_COMPILER "${CMAKE_CURRENT_LIST_DIR}/cc")
if(NOT DEFINED ENV{DLCORE_LIBOMP_PREFIX})
  message(FATAL_ERROR "wheels/zig/toolchain.cmake: set DLCORE_LIBOMP_PREFIX to cmeel-libomp's "
                      "prefix (python -c \"import cmeel, os; ...\"; see wheels/build.sh)")
endif()
set(_dl_omp "$ENV{DLCORE_LIBOMP_PREFIX}")
set(OpenMP_C_FLAGS "-fopenmp=libomp -I${_dl_omp}/include" CACHE STRING "")
set(OpenMP_C_LIB_NAMES "omp" CACHE STRING "")
set(OpenMP_omp_LIBRARY "${_dl_omp}/lib/libomp.so" CACHE FILEPATH "")
