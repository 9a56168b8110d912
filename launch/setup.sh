#!/usr/bin/env bash
# Tessera machine set-up: installs the Debian packages the project needs (idempotent, quiet, fast when
# everything is already there), then configures and builds into ./build.
#   bash launch/setup.sh            # install + configure + build
#   bash launch/setup.sh --no-build # install only
# Environment: TESSERA_BUILD_DIR (default build), TESSERA_BUILD_TYPE (default Release), TESSERA_CUDA (AUTO|ON|OFF).
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  build-essential cmake ninja-build pkg-config
  libopenblas-openmp-dev libdnnl-dev               # CPU math: BLAS (OpenMP build: one thread pool) for GEMM, oneDNN for conv
  libgtest-dev libgmock-dev libbenchmark-dev        # tests and microbenchmarks
  nlohmann-json3-dev libboost-dev libboost-program-options-dev
  libopenmpi-dev openmpi-bin                        # MPI bootstrap and CPU collectives
  libhdf5-dev hdf5-tools                            # sharded datasets and checkpoints
  libspdlog-dev libfmt-dev                          # leveled log lines with the rank (core/log.h)
  libzip-dev libcsv-dev libpng-dev libturbojpeg0-dev  # tessera data from-npy (.npz), from-csv, from-images
  libonnx-dev libprotobuf-dev                       # tessera export (ONNX)
  python3-torch python3-numpy python3-h5py          # reference peers for tests and benchmarks
  python3-pandas python3-pil                        # tests write the converters' CSV files and images with them
  python3-venv                                      # the test venv (launch/test_venv.sh: tensorboard, onnxruntime)
  python3-matplotlib                                # the scaling and projection plots (benchmarks/scaling/)
  iproute2                                          # two emulated hosts in network namespaces (launch/two_hosts/)
  python3-jsonschema                                # validates configs against `tessera train --schema` (tests)
  dataset-fashion-mnist                             # the main job's data
  slurm-wlm munge libpmix-dev                       # SLURM: launch/slurm/train.sbatch, tested on a private one-node
                                                    # cluster; srun --mpi=pmix loads libpmix.so from libpmix-dev
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

[ "${1:-}" = "--no-build" ] && exit 0

build_dir=${TESSERA_BUILD_DIR:-build}
cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE="${TESSERA_BUILD_TYPE:-Release}" \
  -DTESSERA_CUDA="${TESSERA_CUDA:-AUTO}" >"$build_dir.configure.log" 2>&1 || { cat "$build_dir.configure.log"; exit 1; }
jobs=${TESSERA_BUILD_JOBS:-$(nproc)}
cmake --build "$build_dir" -j "$jobs"
