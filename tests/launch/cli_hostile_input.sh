#!/usr/bin/env bash
# Hostile but ordinary input to the `tessera` commands (issue 14, items 13 and 14):
#  (a) bench loader on a --data path with a quote, a space and `$(...)`: no shell ever sees the path (the `touch`
#      in it must not run) and the bench completes on the files under that path;
#  (b) numeric flags out of range or not numbers (demo --steps -5 / abc, ...) and a --progress that is none of its
#      choices fail at once naming the flag;
#  (c) train with a checkpoint.dir or log_dir that cannot be created fails at start, before any training step,
#      naming the key and the path.
set -uo pipefail
tessera=$1
source "$TESSERA_SOURCE_DIR/tests/launch/lib/failing_job.sh"

# fails TEXT... -- COMMAND...: must exit non-zero, on its own, with every TEXT in its output.
fails() {
  split_at_dashes "$@"
  run_failing_job "${command[@]}"
  expect_output "${texts[@]}"
}

# (b) numbers
fails "demo: --steps must be at least 1, got -5" -- "$tessera" demo --steps -5
fails "'abc'" "'--steps'" -- "$tessera" demo --steps abc
fails "demo: --seed must be at least 0, got -1" -- "$tessera" demo --seed -1
fails "data fashion-mnist: --shards must be at least 1, got 0" -- "$tessera" data fashion-mnist --out d --shards 0
fails "bench loader: --ranks must be a comma-separated list of whole numbers >= 1, got '1,x'" \
  -- "$tessera" bench loader --data "$PWD/unused" --ranks 1,x
fails "bench loader: --batch must be at least 1, got -64" -- "$tessera" bench loader --batch -64
fails "bench ddp: --warmup must be at least 0, got -1" -- "$tessera" bench ddp --warmup -1
fails "bench allreduce: --rounds must be at least 1, got 0" -- "$tessera" bench allreduce --rounds 0
# A bad --progress fails while the flags are read, before the config is (it once failed after the startup line).
fails "train: --progress takes auto, bar or lines, got 'bogus'" -- "$tessera" train missing.json --progress bogus
[ ! -e d ] && [ ! -e unused ] || { echo "FAIL: a rejected command wrote files"; exit 1; }

source "$TESSERA_SOURCE_DIR/tests/launch/lib/dependencies.sh"
require_fashion_mnist  # for (a) and (c)

# (a) a --data path that a shell command line would execute
marker=/tmp/tessera-pwned-$$
rm -f "$marker"
hostile="$PWD/it's a \$(touch $marker) dir"
timeout 300 "$tessera" bench loader --data "$hostile" --shards 1 --repeats 1 --epochs 1 --ranks 1 --cnn-seconds 0.1 \
  --mpirun "timeout 120 $MPIRUN" --python "$TESSERA_PYTHON" --json loader.json >bench.txt 2>&1
status=$?
cat bench.txt
if [ -e "$marker" ]; then rm -f "$marker"; echo "FAIL: the \$(touch) in the --data path was executed"; exit 1; fi
[ "$status" -eq 0 ] || { echo "FAIL: bench loader on a path with a quote exited $status"; exit 1; }
[ -s "$hostile/gzip/train-00000-of-00001.h5" ] || { echo "FAIL: no shard under the quoted path"; exit 1; }
"$TESSERA_PYTHON" - <<'PY' || exit 1
import json
cases = json.load(open("loader.json"))["cases"]
assert len(cases) == 4 and all(c["tessera_samples_per_s"] > 0 and c["h5py_samples_per_s"] > 0 for c in cases), cases
PY

# (c) output directories that cannot be created: under a regular file
"$tessera" data fashion-mnist --out data/fmnist --shards 2 >/dev/null || exit 1
config=$TESSERA_SOURCE_DIR/configs/fashion_mnist_cnn.json
touch blocker
for key in checkpoint.dir log_dir; do
  if [ $key = checkpoint.dir ]; then set_dir=(--set 'checkpoint={"dir": "blocker/ckpt"}' --set log_dir=runs/log)
  else set_dir=(--set log_dir=blocker/log --set 'checkpoint={"dir": "runs/ckpt"}'); fi
  start=$SECONDS
  fails "config: $key: cannot create or write the directory 'blocker/" \
    -- $MPIRUN -n 2 "$tessera" train "$config" "${set_dir[@]}" --set max_steps=20 --set schedule.warmup_steps=5 --progress lines
  # run_train prints the summary ("... steps per epoch") just before fit(): the error must come before it.
  ! grep -q "steps per epoch\|^Epoch" out.txt || { echo "FAIL: $key: training started before the error"; exit 1; }
  echo "$key: failed after $((SECONDS - start)) s"
done
echo "hostile input OK"
