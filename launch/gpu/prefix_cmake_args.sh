# shellcheck shell=bash disable=SC2034,SC2154
# Sourced, not run: the CMake flags that build Tessera against the Debian packages of .debs/ unpacked into a prefix
# (dpkg-deb -x), shared by build_and_test.sh (on the GPU machine) and check_debs.sh (its rehearsal here).
# Needs: root (the prefix folder). Sets: prefix_lib (its library folder), prefix_cmake_args (an array).
prefix_lib=$root/usr/lib/x86_64-linux-gnu
prefix_cmake_args=(
  -DCMAKE_PREFIX_PATH="$root/usr" -DCMAKE_LIBRARY_PATH="$prefix_lib"
  -DOPENBLAS_LIBRARY="$prefix_lib/openblas-openmp/libopenblas.so"
  -DCBLAS_INCLUDE_DIR="$root/usr/include/x86_64-linux-gnu/openblas-openmp"
  -DDNNL_LIBRARY="$prefix_lib/libdnnl.so" -DDNNL_INCLUDE_DIR="$root/usr/include"
  -DMPI_CXX_COMPILER="$root/usr/bin/mpicxx.openmpi" -DMPI_C_COMPILER="$root/usr/bin/mpicc.openmpi"
  -DTESSERA_MPIEXEC="$root/usr/bin/orterun"
  # No h5cc: FindHDF5 then takes the paths below instead of asking a compiler wrapper that is not there.
  -DHDF5_C_COMPILER_EXECUTABLE="$root/usr/bin/h5cc-not-used" -DHDF5_ROOT="$prefix_lib/hdf5/serial"
  -DHDF5_C_INCLUDE_DIR="$root/usr/include/hdf5/serial" -DHDF5_C_LIBRARY_hdf5="$prefix_lib/hdf5/serial/libhdf5.so"
  # zlib1g-dev's libz.so points at /lib/x86_64-linux-gnu/libz.so.1: the machine's own zlib.
  -DZLIB_INCLUDE_DIR="$root/usr/include" -DZLIB_LIBRARY="$(readlink -e "$prefix_lib/libz.so" ||
    ldconfig -p | awk '/libz\.so\.1 .*x86-64/ {print $NF; exit}')"
)
