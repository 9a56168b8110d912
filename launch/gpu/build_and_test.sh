#!/usr/bin/env bash
# Run on the GPU test machine from the repository root (device tool: `bash launch/gpu/build_and_test.sh`, with
# carry [".debs"]). Unpacks the Debian packages from .debs/ (see fetch_debs.sh) into a local prefix, builds with
# TESSERA_CUDA=ON for sm_90 against the machine's CUDA and the cuDNN/NCCL Python wheels, then runs every test.
# Results land in $OUT (when set) as ctest output.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD/.debs/root
mkdir -p "$root"
for deb in .debs/*.deb; do dpkg -x "$deb" "$root"; done
lib=$root/usr/lib/x86_64-linux-gnu

# cuDNN and NCCL come as Python wheels here (site-packages/nvidia/{cudnn,nccl}).
nvidia=$(python3 -c 'import nvidia, os; print(os.path.dirname(nvidia.__path__[0]) + "/nvidia")' 2>/dev/null || true)
cudnn_dir=${CUDNN_DIR:-$nvidia/cudnn}
nccl_dir=${NCCL_DIR:-$nvidia/nccl}
ls "$cudnn_dir/include/cudnn.h" "$nccl_dir/include/nccl.h" >/dev/null
cudnn_lib=$(ls "$cudnn_dir"/lib/libcudnn.so* | head -n 1)
nccl_lib=$(ls "$nccl_dir"/lib/libnccl.so* | head -n 1)

export LD_LIBRARY_PATH=$lib:$lib/openblas-openmp:$cudnn_dir/lib:$nccl_dir/lib:${LD_LIBRARY_PATH:-}
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv || true

cmake -S . -B build-gpu -G Ninja -DCMAKE_BUILD_TYPE=Release -DTESSERA_CUDA=ON -DTESSERA_CUDA_ARCHS=90 \
  -DCMAKE_PREFIX_PATH="$root/usr" -DCMAKE_LIBRARY_PATH="$lib" \
  -DOPENBLAS_LIBRARY="$lib/openblas-openmp/libopenblas.so" \
  -DCBLAS_INCLUDE_DIR="$root/usr/include/x86_64-linux-gnu/openblas-openmp" \
  -DDNNL_LIBRARY="$lib/libdnnl.so" -DDNNL_INCLUDE_DIR="$root/usr/include" \
  -Dnlohmann_json_DIR="$root/usr/share/cmake/nlohmann_json" \
  -DCUDNN_INCLUDE_DIR="$cudnn_dir/include" -DCUDNN_LIBRARY="$cudnn_lib" \
  -DNCCL_INCLUDE_DIR="$nccl_dir/include" -DNCCL_LIBRARY="$nccl_lib" \
  -DTESSERA_PYTHON="$(command -v python3)"
cmake --build build-gpu -j "$(nproc)"
ctest --test-dir build-gpu --output-on-failure -j 8 2>&1 | tee "${OUT:-/tmp}/ctest-gpu.txt"
