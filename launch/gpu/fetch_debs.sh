#!/usr/bin/env bash
# Run on the development machine (Debian 12, with package registries). Downloads the Debian packages that the GPU
# test machine lacks (it has CUDA, cuDNN/NCCL Python wheels, CMake and ninja, but no Debian -dev packages and no
# registry) into .debs/ (git-ignored), which `carry` ships with the checkout. Keep the total under 64 MiB.
set -euo pipefail
cd "$(dirname "$0")/../.."
packages=(
  libopenblas-dev libopenblas-openmp-dev libopenblas0-openmp libgfortran5   # BLAS (OpenMP build)
  libdnnl-dev libdnnl2 ocl-icd-libopencl1                                     # oneDNN (links libOpenCL)
  googletest libgtest-dev libgmock-dev libbenchmark-dev libbenchmark1debian   # tests, benchmarks
  nlohmann-json3-dev
)
mkdir -p .debs
cd .debs
apt-get download "${packages[@]}" >/dev/null
du -sh .
