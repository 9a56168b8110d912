# `cmake --install BUILD --prefix P`: what a program outside this tree needs to use Tessera.
#   P/bin/tessera, P/bin/tessera-run               the command line and its mpirun wrapper
#   P/lib/libtessera_{kernels,core,io,distributed}.a
#   P/include/tessera/{kernels,core,io,distributed}/...
#                                                  the public headers, in the folders they include each other by
#                                                  ("core/tensor.h"), so P/include/tessera is the include directory
#   P/lib/cmake/Tessera/                           the CMake package: find_package(Tessera) gives Tessera::tessera
#                                                  (everything) and Tessera::kernels, ::core, ::io, ::distributed
# Not installed: what only the libraries include: the per-device implementation headers (kernels/cpu, kernels/cuda,
# distributed/mpi, distributed/nccl) and the element functors the backends share (kernels/element_math.h,
# kernels/elementwise_ops.h, which reach into kernels/cpu); nor the command line's own headers.
include(CMakePackageConfigHelpers)
set(TESSERA_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/Tessera)

foreach(folder kernels core io distributed)
  set_target_properties(tessera_${folder} PROPERTIES EXPORT_NAME ${folder})
endforeach()
set_target_properties(tessera_library PROPERTIES EXPORT_NAME tessera)
install(TARGETS tessera_kernels tessera_core tessera_io tessera_distributed tessera_library EXPORT TesseraTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(TARGETS tessera RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(PROGRAMS launch/tessera-run DESTINATION ${CMAKE_INSTALL_BINDIR})

install(DIRECTORY kernels core io distributed DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/tessera
        FILES_MATCHING PATTERN "*.h"
        REGEX "/(kernels/(cpu|cuda|stub)|distributed/(mpi|nccl|stub))$" EXCLUDE
        REGEX "/kernels/(element_math|elementwise_ops)\\.h$" EXCLUDE)

install(EXPORT TesseraTargets NAMESPACE Tessera:: DESTINATION ${TESSERA_CMAKE_DIR})
configure_package_config_file(cmake/TesseraConfig.cmake.in ${PROJECT_BINARY_DIR}/TesseraConfig.cmake
                              INSTALL_DESTINATION ${TESSERA_CMAKE_DIR})
# 0.x: a minor version may change the API.
write_basic_package_version_file(${PROJECT_BINARY_DIR}/TesseraConfigVersion.cmake
                                 COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/TesseraConfig.cmake ${PROJECT_BINARY_DIR}/TesseraConfigVersion.cmake
              cmake/TesseraLinkDependencies.cmake
        DESTINATION ${TESSERA_CMAKE_DIR})
