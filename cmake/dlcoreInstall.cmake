# dlcoreInstall.cmake - the C library as an installable CMake package (standalone builds only).
#
# Included from the top CMakeLists.txt when not built by scikit-build-core. Adds the shared
# library `dlcore` (libdlcore.so, linked from the same PIC objects as the static dlcore_c, so
# both are one build of the kernels) and installs:
#   lib/libdlcore.a, lib/libdlcore.so*        dlcore::dlcore_static, dlcore::dlcore
#   include/dlcore/dlcore.h, kernels.def      the public header and its kernel list
#   lib/cmake/dlcore/dlcoreConfig.cmake       find_package(dlcore), with OpenMP and the BLAS
#   lib/cmake/dlcore/dlcoreConfigVersion.cmake, dlcoreTargets*.cmake
# Usage: cmake --install <build> --prefix <prefix>, then in a consumer
#   find_package(dlcore CONFIG REQUIRED); target_link_libraries(app PRIVATE dlcore::dlcore)
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(DLCORE_INSTALL_CMAKEDIR "${CMAKE_INSTALL_LIBDIR}/cmake/dlcore" CACHE STRING
    "Where dlcoreConfig.cmake is installed, relative to the prefix")

# ---- the static library: installed as libdlcore.a, exported as dlcore::dlcore_static
target_include_directories(dlcore_c PUBLIC $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
set_target_properties(dlcore_c PROPERTIES EXPORT_NAME dlcore_static)
if(NOT WIN32)  # on Windows dlcore.lib would clash with the shared library's import library
  set_target_properties(dlcore_c PROPERTIES OUTPUT_NAME dlcore)
endif()
add_library(dlcore::dlcore_static ALIAS dlcore_c)

# ---- the shared library: every object of dlcore_c (PIC) linked whole into libdlcore.so
add_library(dlcore SHARED "${CMAKE_CURRENT_SOURCE_DIR}/csrc/src/shared_lib.c")
if(CMAKE_VERSION VERSION_GREATER_EQUAL 3.24)
  target_link_libraries(dlcore PRIVATE "$<LINK_LIBRARY:WHOLE_ARCHIVE,dlcore_c>")
elseif(CMAKE_C_COMPILER_ID MATCHES "GNU|Clang" AND NOT APPLE)
  target_link_libraries(dlcore PRIVATE -Wl,--whole-archive dlcore_c -Wl,--no-whole-archive)
else()
  message(FATAL_ERROR "dlcore: the shared library needs CMake >= 3.24 on this platform "
                      "(or configure with -DDLCORE_INSTALL=OFF)")
endif()
target_include_directories(dlcore PUBLIC
  $<BUILD_INTERFACE:${CMAKE_CURRENT_SOURCE_DIR}/csrc/include>
  $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
if(CMAKE_C_COMPILER_ID MATCHES "GNU|Clang")
  target_compile_options(dlcore PRIVATE -O3 -Wall -Wextra)
endif()
# 0.x: every minor release may change the ABI, so the soname carries major.minor.
set_target_properties(dlcore PROPERTIES
  VERSION ${PROJECT_VERSION}
  SOVERSION ${PROJECT_VERSION_MAJOR}.${PROJECT_VERSION_MINOR}
  # keep the path to a BLAS outside the system directories (scipy-openblas32's, say)
  INSTALL_RPATH_USE_LINK_PATH TRUE)
add_library(dlcore::dlcore ALIAS dlcore)

# ---- install
install(TARGETS dlcore dlcore_c EXPORT dlcoreTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(DIRECTORY "${CMAKE_CURRENT_SOURCE_DIR}/csrc/include/dlcore"
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
  FILES_MATCHING PATTERN "*.h" PATTERN "*.def")
install(EXPORT dlcoreTargets NAMESPACE dlcore:: DESTINATION ${DLCORE_INSTALL_CMAKEDIR})

# What the static library's users must find again (dlcoreConfig.cmake.in).
set(DLCORE_CONFIG_BLAS "${_dl_blas}")
set(DLCORE_CONFIG_OPENBLAS_DIR "")
if(_dl_blas STREQUAL "scipy-openblas32")
  set(DLCORE_CONFIG_OPENBLAS_DIR "${OpenBLAS_DIR}")
endif()
configure_package_config_file(
  "${CMAKE_CURRENT_SOURCE_DIR}/cmake/dlcoreConfig.cmake.in"
  "${CMAKE_CURRENT_BINARY_DIR}/dlcoreConfig.cmake"
  INSTALL_DESTINATION ${DLCORE_INSTALL_CMAKEDIR})
# 0.x: a consumer asking for 0.1 gets any 0.1.z, not 0.2 (see SOVERSION above).
write_basic_package_version_file("${CMAKE_CURRENT_BINARY_DIR}/dlcoreConfigVersion.cmake"
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMinorVersion)
install(FILES "${CMAKE_CURRENT_BINARY_DIR}/dlcoreConfig.cmake"
              "${CMAKE_CURRENT_BINARY_DIR}/dlcoreConfigVersion.cmake"
        DESTINATION ${DLCORE_INSTALL_CMAKEDIR})
