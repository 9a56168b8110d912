# The third-party libraries in Tessera's link interface, found the same way by both users of this file: the build
# (cmake/Dependencies.cmake) and a program using the installed package (TesseraConfig.cmake, installed beside this
# file). The libraries are static, so a program linking them links all of these too.
#
# The includer first defines tessera_find_dependency(<find_package arguments>): find_package(... REQUIRED) in the
# build, find_dependency() in the package. In: TESSERA_WITH_CUDA, and in a CUDA build CUDNN_LIBRARY,
# CUDNN_INCLUDE_DIR, NCCL_LIBRARY and NCCL_INCLUDE_DIR (cuDNN and NCCL have no CMake package).
# Out: the IMPORTED targets tessera::openblas, tessera::dnnl, tessera::hdf5 (tessera::cudnn and tessera::nccl with
# CUDA), and those of the packages: Threads::Threads, OpenMP::OpenMP_CXX, nlohmann_json::nlohmann_json, fmt::fmt,
# spdlog::spdlog,
# MPI::MPI_CXX, Boost::headers, ZLIB::ZLIB (CUDA::cudart, CUDA::cublasLt with CUDA).

# tessera_imported_library(<target> LIBRARIES <files...> INCLUDE_DIRS <dirs...> [DEFINITIONS <defs...>]): an
# IMPORTED target over libraries found by path; made once (a program may find Tessera twice).
function(tessera_imported_library target)
  cmake_parse_arguments(PARSE_ARGV 1 arg "" "" "LIBRARIES;INCLUDE_DIRS;DEFINITIONS")
  if(NOT TARGET ${target})
    add_library(${target} INTERFACE IMPORTED)
    target_link_libraries(${target} INTERFACE ${arg_LIBRARIES})
    target_include_directories(${target} INTERFACE ${arg_INCLUDE_DIRS})
    target_compile_definitions(${target} INTERFACE ${arg_DEFINITIONS})
  endif()
endfunction()

tessera_find_dependency(Threads)
tessera_find_dependency(OpenMP)
tessera_find_dependency(nlohmann_json 3)
# fmt formats log lines (core/log.h, public), spdlog writes them (core/log.cpp).
tessera_find_dependency(fmt)
tessera_find_dependency(spdlog)

# oneDNN: Debian's dnnl-config.cmake insists on OpenCL headers we do not use, so find the library directly.
find_library(DNNL_LIBRARY NAMES dnnl REQUIRED)
find_path(DNNL_INCLUDE_DIR dnnl.hpp REQUIRED)
tessera_imported_library(tessera::dnnl LIBRARIES ${DNNL_LIBRARY} INCLUDE_DIRS ${DNNL_INCLUDE_DIR})

# OpenBLAS: the OpenMP build (libopenblas-openmp-dev), so BLAS and our own kernels share one libgomp thread pool.
# With the pthread build, two pools spin against each other on the same cores: measured on 2 cores, the MLP
# step ran 4-6x slower at 2 threads (benchmarks/cpu_step). Link OpenBLAS itself, not the reference BLAS, so that
# openblas_set_num_threads exists. The pthread build is the fallback where the OpenMP one is missing.
find_library(OPENBLAS_LIBRARY NAMES openblas PATHS /usr/lib/x86_64-linux-gnu/openblas-openmp NO_DEFAULT_PATH)
find_library(OPENBLAS_LIBRARY NAMES openblas REQUIRED)
find_path(CBLAS_INCLUDE_DIR cblas.h PATHS /usr/include/x86_64-linux-gnu/openblas-openmp NO_DEFAULT_PATH)
find_path(CBLAS_INCLUDE_DIR cblas.h PATH_SUFFIXES x86_64-linux-gnu/openblas-pthread openblas REQUIRED)
tessera_imported_library(tessera::openblas LIBRARIES ${OPENBLAS_LIBRARY} INCLUDE_DIRS ${CBLAS_INCLUDE_DIR})

# CUDA: only the runtime (cudart) and cuBLASLt, never the driver library: a binary linked to the stub libcuda would
# not start on a machine without a GPU.
if(TESSERA_WITH_CUDA)
  tessera_find_dependency(CUDAToolkit)
  tessera_imported_library(tessera::cudnn LIBRARIES ${CUDNN_LIBRARY} INCLUDE_DIRS ${CUDNN_INCLUDE_DIR})
  tessera_imported_library(tessera::nccl LIBRARIES ${NCCL_LIBRARY} INCLUDE_DIRS ${NCCL_INCLUDE_DIR})
endif()

# MPI (Open MPI from Debian): the bootstrap and the CPU collectives. The C API only; the C++ bindings are gone.
set(MPI_CXX_SKIP_MPICXX ON)
tessera_find_dependency(MPI COMPONENTS CXX)

# HDF5 (serial, thread-safe Debian build): sharded datasets and checkpoints, through io/'s RAII layer. FindHDF5
# compiles a C test program, so a C++-only program using the package gets C enabled here.
if(NOT CMAKE_C_COMPILER_LOADED)
  enable_language(C)
endif()
tessera_find_dependency(HDF5 COMPONENTS C)
tessera_imported_library(tessera::hdf5 LIBRARIES ${HDF5_C_LIBRARIES} INCLUDE_DIRS ${HDF5_C_INCLUDE_DIRS}
                         DEFINITIONS ${HDF5_C_DEFINITIONS})

# Boost: CRC (header-only) for TensorBoard record framing. zlib: the gzip'd idx files of Fashion-MNIST (io/convert).
tessera_find_dependency(Boost 1.74)
tessera_find_dependency(ZLIB)
