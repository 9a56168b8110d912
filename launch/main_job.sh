#!/usr/bin/env bash
# The README's main command: sets up the machine (packages + build), converts Fashion-MNIST (Debian's
# dataset-fashion-mnist) to sharded HDF5 in data/fmnist, then trains the CNN of configs/fashion_mnist_cnn.json on
# 2 CPU ranks with `tessera train` and prints the test accuracy.
#   bash launch/main_job.sh                     # fresh run (runs/<name> is replaced)
#   bash launch/main_job.sh --resume            # continue the last run from its newest checkpoint
#   TESSERA_MAIN_CONFIG=configs/fashion_mnist_mlp.json bash launch/main_job.sh   # the MLP instead
# Extra arguments go to `tessera train` (e.g. --set epochs=3).
set -euo pipefail
cd "$(dirname "$0")/.."
bash launch/setup.sh
build_dir=${TESSERA_BUILD_DIR:-build}
config=${TESSERA_MAIN_CONFIG:-configs/fashion_mnist_cnn.json}
ranks=${TESSERA_MAIN_RANKS:-2}

if [ ! -f data/fmnist/test-00001-of-00002.h5 ]; then
  "$build_dir/bin/tessera" data fashion-mnist --out data/fmnist --shards 2
fi
if [[ " $* " != *" --resume "* ]]; then
  log_dir=$(/usr/bin/python3 -c 'import json, sys; print(json.load(open(sys.argv[1])).get("log_dir", ""))' "$config")
  [ -z "$log_dir" ] || rm -rf "$log_dir"
fi
launch/tessera-run -n "$ranks" "$build_dir/bin/tessera" train "$config" "$@"
