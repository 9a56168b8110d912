#!/usr/bin/env bash
# Run on the development machine (Debian 12, with package registries). Downloads the Debian packages that the GPU
# test machine lacks into .debs/ (git-ignored), which the device tool's `carry` ships with the checkout
# (build_and_test.sh unpacks them there). The GPU machine (Ubuntu 24.04 image, no registry) has CUDA, g++, CMake,
# ninja and the cuDNN/NCCL Python wheels, but no MPI, HDF5, BLAS, oneDNN, Boost, GoogleTest or zlib headers.
#   .debs/*.deb          always unpacked: what we compile and link against, with the libraries it names
#   .debs/runtime/*.deb  their dependencies, unpacked only where the machine lacks one of the libraries they hold
#                        (so a library the machine has is never shadowed by Debian 12's older copy)
# Everything that travels must stay under 64 MiB (the working tree included); this prints the total.
set -euo pipefail
cd "$(dirname "$0")/../.."
link=(
  libopenblas-openmp-dev libopenblas0-openmp                   # BLAS (OpenMP build): cblas.h, libopenblas
  libdnnl-dev libdnnl2                                         # oneDNN
  libgtest-dev libgmock-dev libbenchmark-dev libbenchmark1debian
  nlohmann-json3-dev zlib1g-dev
  libboost1.74-dev libboost-program-options1.74-dev libboost-program-options1.74.0
  libopenmpi-dev libopenmpi3 openmpi-bin openmpi-common        # headers, libmpi, orterun/orted, help files
  libhdf5-dev libhdf5-103-1
)
runtime=(
  zlib1g libgfortran5 libquadmath0 ocl-icd-libopencl1 libaec0 libsz2                     # zlib, BLAS, oneDNN, HDF5
  libhwloc15 libevent-core-2.1-7 libevent-pthreads-2.1-7 libpmix2 libmunge2 libudev1       # Open MPI and PMIx
  libfabric1 libucx0 libibverbs1 librdmacm1 libpsm2-2 libpsm-infinipath1 libnl-3-200      # Open MPI plugins (loaded,
  libnl-route-3-200 libnuma1 libatomic1                                                   # never selected: see MCA)
  libcurl4 libbrotli1 libgssapi-krb5-2 libk5crypto3 libkrb5-3 libkrb5support0 libkeyutils1 # libhdf5 -> libcurl
  libcom-err2 libldap-2.5-0 libsasl2-2 libnghttp2-14 libidn2-0 libunistring2 libpsl5 librtmp1 libgnutls30
  libhogweed6 libnettle8 libgmp10 libp11-kit0 libtasn1-6 libffi8 libssh2-1 libssl3 libzstd1
)
rm -rf .debs
mkdir -p .debs/runtime
# (as root, apt warns that _apt cannot write here and downloads unsandboxed: harmless, filtered)
download() { apt-get download "$@" >/dev/null 2> >(grep -v "unsandboxed" >&2); }
(cd .debs && download "${link[@]}")
(cd .debs/runtime && download "${runtime[@]}")
echo "fetch_debs: $(ls .debs/*.deb | wc -l) + $(ls .debs/runtime/*.deb | wc -l) packages, $(du -sh .debs | cut -f1)"
