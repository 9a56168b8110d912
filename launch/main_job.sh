#!/usr/bin/env bash
# The README's main command: sets up the machine (packages + build), converts Fashion-MNIST (Debian's
# dataset-fashion-mnist) to sharded HDF5 in data/fmnist, then trains the CNN of configs/fashion_mnist_cnn.json on
# 2 ranks with `tessera train` (on the GPU when the machine has one, the config's "device" being "auto"; else on the
# CPU) and prints the test accuracy.
#   bash launch/main_job.sh                     # fresh run: the previous run of a configs/ config is replaced
#   bash launch/main_job.sh --resume            # continue the last run from its newest checkpoint
#   bash launch/main_job.sh --resume=if-present # continue it, or start afresh when it has no checkpoint yet
#   TESSERA_MAIN_CONFIG=configs/fashion_mnist_mlp.json bash launch/main_job.sh   # the MLP instead
# Extra arguments go to `tessera train` (e.g. --set epochs=3).
#
# Replacing a previous run: this script never deletes a folder itself. `tessera train` refuses a fresh run into
# folders that hold another run's checkpoints or metrics.csv unless given --overwrite, which removes just those
# files (ckpt-*.h5, best.h5, metrics.csv) and prints each. The script passes --overwrite to a fresh run
# (no --resume, --resume=..., --resume-from) only when asked: TESSERA_MAIN_OVERWRITE=1, which is the default for
# the repository's own configs (configs/*.json: their runs/ folders are this script's); for any other config it
# defaults to 0, so another run's files are never removed unless you ask (TESSERA_MAIN_OVERWRITE=1 or --overwrite).
set -euo pipefail
cd "$(dirname "$0")/.."
bash launch/setup.sh
build_dir=${TESSERA_BUILD_DIR:-build}
config=${TESSERA_MAIN_CONFIG:-configs/fashion_mnist_cnn.json}
ranks=${TESSERA_MAIN_RANKS:-2}

if [ ! -f data/fmnist/test-00001-of-00002.h5 ]; then
  "$build_dir/bin/tessera" data fashion-mnist --out data/fmnist --shards 2
fi
default_overwrite=0
[[ "$(realpath -m "$config")" != "$PWD"/configs/*.json ]] || default_overwrite=1
overwrite=()
if [ "${TESSERA_MAIN_OVERWRITE:-$default_overwrite}" = 1 ] && [[ " $* " != *" --resume"* ]] &&
  [[ " $* " != *" --overwrite "* ]]; then
  overwrite=(--overwrite)
fi
launch/tessera-run -n "$ranks" "$build_dir/bin/tessera" train "$config" "${overwrite[@]}" "$@"
