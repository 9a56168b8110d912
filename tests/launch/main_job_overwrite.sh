#!/usr/bin/env bash
# launch/main_job.sh never deletes a run folder itself (issue 14, item 3; before the fix a fresh run did
# `rm -rf` of the config's log_dir). It passes --overwrite to `tessera train`, which removes just the old run's
# checkpoints, best.h5 and metrics.csv, only when asked: TESSERA_MAIN_OVERWRITE=1, the default for the
# repository's own configs/; never with --resume. Run in a copy of the script beside stub setup.sh and
# tessera-run (which records its arguments), so no build, data or training is involved.
set -euo pipefail
mkdir -p repo/launch repo/configs repo/data/fmnist repo/runs/fmnist-cnn/ckpt repo/runs/other
cp "$TESSERA_SOURCE_DIR/launch/main_job.sh" repo/launch/
cp "$TESSERA_SOURCE_DIR/configs/fashion_mnist_cnn.json" repo/configs/
sed 's#runs/fmnist-cnn#runs/other#g' repo/configs/fashion_mnist_cnn.json > repo/other.json
printf '#!/bin/sh\nexit 0\n' > repo/launch/setup.sh
printf '#!/bin/sh\necho "$*" > "$(dirname "$0")/../call.txt"\n' > repo/launch/tessera-run
chmod +x repo/launch/tessera-run
touch repo/data/fmnist/test-00001-of-00002.h5 repo/runs/fmnist-cnn/metrics.csv repo/runs/fmnist-cnn/ckpt/best.h5 \
  repo/runs/other/metrics.csv
before=$(find repo/runs | sort)

expect_call() {  # expect_call "ARGUMENTS after the config" [VAR=value ...] -- [main_job.sh arguments ...]
  local want=$1 config=configs/fashion_mnist_cnn.json variables=()
  shift
  while [ "$1" != -- ]; do variables+=("$1"); [[ $1 != TESSERA_MAIN_CONFIG=* ]] || config=${1#*=}; shift; done
  shift
  rm -f repo/call.txt
  env "${variables[@]}" bash repo/launch/main_job.sh "$@" > out.txt 2>&1 || { cat out.txt; exit 1; }
  local got
  got=$(cat repo/call.txt)
  [ "$got" = "-n 2 build/bin/tessera train $config$want" ] || { echo "FAIL: ${variables[*]} $*: called '$got'"; exit 1; }
  [ "$(find repo/runs | sort)" = "$before" ] || { echo "FAIL: ${variables[*]} $*: the script deleted files"; exit 1; }
  echo "ok: ${variables[*]} main_job.sh $* -> ...$want"
}
expect_call " --overwrite" --                                   # its own config: asks tessera to replace the run
expect_call "" TESSERA_MAIN_OVERWRITE=0 --
expect_call " --resume" -- --resume
expect_call " --resume=if-present --set epochs=1" -- --resume=if-present --set epochs=1
expect_call "" TESSERA_MAIN_CONFIG=other.json --                 # not the repository's: never without asking
expect_call " --overwrite" TESSERA_MAIN_CONFIG=other.json TESSERA_MAIN_OVERWRITE=1 --
expect_call " --overwrite" TESSERA_MAIN_CONFIG=other.json -- --overwrite
echo "main_job.sh asks before replacing a run OK"
