#!/usr/bin/env bash
# `tessera --version` names the build (version, commit, CUDA path or not) and the version of every library it runs
# with, each checked against the library's own answer here: MPI (ompi_info), HDF5 (h5cc/h5dump -V), OpenBLAS and
# oneDNN, NCCL and cuDNN in a CUDA build.
set -euo pipefail
tessera=$1
"$tessera" --version >version.txt
cat version.txt
grep -q "^tessera [0-9][0-9.]* (commit [0-9a-f]" version.txt || { echo "FAIL: no version and commit"; exit 1; }
grep -q "^CPU: OpenBLAS .*; oneDNN [0-9]*\.[0-9]*\.[0-9]*; instruction sets: " version.txt || { echo "FAIL: CPU line"; exit 1; }
grep -q "^GPU: " version.txt && grep -q "NCCL" version.txt || { echo "FAIL: GPU line"; exit 1; }
if command -v ompi_info >/dev/null; then
  mpi=$(ompi_info --version 2>/dev/null | sed -n 's/^Open MPI v\([0-9.]*\).*/\1/p' | head -n 1)
  [ -z "$mpi" ] || grep -q "^MPI: Open MPI v$mpi" version.txt || { echo "FAIL: MPI is not v$mpi"; exit 1; }
fi
hdf5=$(h5dump -V 2>/dev/null | sed -n 's/.*Version \([0-9.]*\).*/\1/p' | head -n 1)
[ -z "$hdf5" ] || grep -q "^HDF5: HDF5 $hdf5" version.txt || { echo "FAIL: HDF5 is not $hdf5"; exit 1; }
if grep -q "CUDA path built" version.txt; then
  grep -q "cuDNN [0-9]*\.[0-9]*\.[0-9]*" version.txt && grep -q "NCCL [0-9]*\.[0-9]*\.[0-9]*" version.txt ||
    { echo "FAIL: a CUDA build names cuDNN and NCCL versions"; exit 1; }
fi
echo "OK"
