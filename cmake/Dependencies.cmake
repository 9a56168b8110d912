# Third-party libraries, all from Debian packages installed by launch/setup.sh (CUDA from the machine image).
find_package(Threads REQUIRED)
find_package(OpenMP REQUIRED)
if(TESSERA_BUILD_TESTS)
  find_package(GTest REQUIRED)
endif()
find_package(nlohmann_json 3 REQUIRED)
# oneDNN: Debian's dnnl-config.cmake insists on OpenCL headers we do not use, so find the library directly.
find_library(DNNL_LIBRARY NAMES dnnl REQUIRED)
find_path(DNNL_INCLUDE_DIR dnnl.hpp REQUIRED)
add_library(tessera::dnnl INTERFACE IMPORTED)
target_link_libraries(tessera::dnnl INTERFACE ${DNNL_LIBRARY})
target_include_directories(tessera::dnnl INTERFACE ${DNNL_INCLUDE_DIR})

# OpenBLAS: the OpenMP build (libopenblas-openmp-dev), so BLAS and our own kernels share one libgomp thread pool.
# With the pthread build, two pools spin against each other on the same cores: measured on 2 cores, the MLP
# step ran 4-6x slower at 2 threads (benchmarks/cpu_step). Link OpenBLAS itself, not the reference BLAS, so that
# openblas_set_num_threads exists. The pthread build is the fallback where the OpenMP one is missing.
find_library(OPENBLAS_LIBRARY NAMES openblas PATHS /usr/lib/x86_64-linux-gnu/openblas-openmp NO_DEFAULT_PATH)
find_library(OPENBLAS_LIBRARY NAMES openblas REQUIRED)
find_path(CBLAS_INCLUDE_DIR cblas.h PATHS /usr/include/x86_64-linux-gnu/openblas-openmp NO_DEFAULT_PATH)
find_path(CBLAS_INCLUDE_DIR cblas.h PATH_SUFFIXES x86_64-linux-gnu/openblas-pthread openblas REQUIRED)
message(STATUS "Tessera: OpenBLAS ${OPENBLAS_LIBRARY}")
add_library(tessera::openblas INTERFACE IMPORTED)
target_link_libraries(tessera::openblas INTERFACE ${OPENBLAS_LIBRARY})
target_include_directories(tessera::openblas INTERFACE ${CBLAS_INCLUDE_DIR})

# CUDA: AUTO turns it on when nvcc, cuDNN and NCCL are all present. Only the runtime (cudart) is linked, never
# the driver library: a binary linked to the stub libcuda would not start on a machine without a GPU.
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
  find_package(CUDAToolkit REQUIRED)
  add_library(tessera::cudnn INTERFACE IMPORTED)
  target_link_libraries(tessera::cudnn INTERFACE ${CUDNN_LIBRARY})
  target_include_directories(tessera::cudnn INTERFACE ${CUDNN_INCLUDE_DIR})
  add_library(tessera::nccl INTERFACE IMPORTED)
  target_link_libraries(tessera::nccl INTERFACE ${NCCL_LIBRARY})
  target_include_directories(tessera::nccl INTERFACE ${NCCL_INCLUDE_DIR})
endif()
message(STATUS "Tessera: CUDA path ${TESSERA_WITH_CUDA} (TESSERA_CUDA=${TESSERA_CUDA}, archs ${TESSERA_CUDA_ARCHS})")

# MPI (Open MPI from Debian): the bootstrap and the CPU collectives. The C API only; the C++ bindings are gone.
set(MPI_CXX_SKIP_MPICXX ON)
find_package(MPI REQUIRED COMPONENTS CXX)
find_program(TESSERA_MPIEXEC NAMES mpirun mpiexec REQUIRED)

# HDF5 (serial, thread-safe Debian build): sharded datasets and checkpoints, through io/'s RAII layer.
find_package(HDF5 REQUIRED COMPONENTS C)
add_library(tessera::hdf5 INTERFACE IMPORTED)
target_link_libraries(tessera::hdf5 INTERFACE ${HDF5_C_LIBRARIES})
target_include_directories(tessera::hdf5 INTERFACE ${HDF5_C_INCLUDE_DIRS})
target_compile_definitions(tessera::hdf5 INTERFACE ${HDF5_C_DEFINITIONS})

# Boost: program_options for the command line, CRC (header-only) for TensorBoard record framing.
find_package(Boost 1.74 REQUIRED COMPONENTS program_options)
