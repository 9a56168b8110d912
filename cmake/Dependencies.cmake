# Third-party libraries, all from Debian packages installed by launch/setup.sh (CUDA from the machine image).
# Those a program linking Tessera needs too are found by cmake/TesseraLinkDependencies.cmake, which the installed
# package (cmake/Install.cmake) runs again; the build-only ones (GoogleTest, program_options, mpirun) are here.
macro(tessera_find_dependency)
  find_package(${ARGV} REQUIRED)
endmacro()

if(TESSERA_BUILD_TESTS)
  find_package(GTest REQUIRED)
endif()

# CUDA: AUTO turns it on when nvcc, cuDNN and NCCL are all present.
set(TESSERA_WITH_CUDA OFF)
if(NOT TESSERA_CUDA STREQUAL "OFF")
  include(CheckLanguage)
  check_language(CUDA)
  # The versioned names too: the cuDNN/NCCL Python wheels (site-packages/nvidia/{cudnn,nccl}/lib) ship only
  # libcudnn.so.9 and libnccl.so.2, without the unversioned link (launch/gpu/build_and_test.sh passes them).
  find_path(CUDNN_INCLUDE_DIR cudnn.h HINTS /usr/local/cuda/include)
  find_library(CUDNN_LIBRARY NAMES cudnn libcudnn.so.9 HINTS /usr/local/cuda/lib /usr/local/cuda/lib64)
  find_path(NCCL_INCLUDE_DIR nccl.h HINTS /usr/local/cuda/include)
  find_library(NCCL_LIBRARY NAMES nccl libnccl.so.2 HINTS /usr/local/cuda/lib /usr/local/cuda/lib64)
  if(CMAKE_CUDA_COMPILER AND CUDNN_INCLUDE_DIR AND CUDNN_LIBRARY AND NCCL_INCLUDE_DIR AND NCCL_LIBRARY)
    set(TESSERA_WITH_CUDA ON)
  elseif(TESSERA_CUDA STREQUAL "ON")
    message(FATAL_ERROR "TESSERA_CUDA=ON but missing: nvcc=${CMAKE_CUDA_COMPILER} cudnn=${CUDNN_LIBRARY} "
                        "nccl=${NCCL_LIBRARY}")
  endif()
endif()
if(TESSERA_WITH_CUDA)
  set(CMAKE_CUDA_ARCHITECTURES ${TESSERA_CUDA_ARCHS})
  enable_language(CUDA)
endif()
message(STATUS "Tessera: CUDA path ${TESSERA_WITH_CUDA} (TESSERA_CUDA=${TESSERA_CUDA}, archs ${TESSERA_CUDA_ARCHS})")

include(${CMAKE_CURRENT_LIST_DIR}/TesseraLinkDependencies.cmake)
message(STATUS "Tessera: OpenBLAS ${OPENBLAS_LIBRARY}")

find_program(TESSERA_MPIEXEC NAMES mpirun mpiexec REQUIRED)
# Boost.program_options for the command line.
find_package(Boost 1.74 REQUIRED COMPONENTS program_options)
