#!/usr/bin/env bash
# metrics.csv after a resume has one row per epoch, as an uninterrupted run's. CsvLogger appends an epoch's row before
# ModelCheckpoint writes its checkpoint, so a run killed while writing the epoch-2 checkpoint (or resumed from an older
# checkpoint: --resume-from, a fallback past a corrupt file) trains epoch 2 again and logged it twice.
set -uo pipefail
tessera=$1
source "$TESSERA_SOURCE_DIR/tests/launch/lib/tiny_job.sh"
make_tiny_job
run() {  # run NAME [args...]
  local name=$1
  shift
  "$tessera" train tiny.json --set epochs=3 --set log_dir=runs/$name --set checkpoint.dir=runs/$name/ckpt \
    --progress lines "$@" > "$name.txt" 2>&1
}
run straight || { cat straight.txt; exit 1; }
TESSERA_FAULT_KILL_AT_CHECKPOINT=64 run killed
[ -f runs/killed/ckpt/ckpt-000000064.h5.tmp-* ] || { cat killed.txt; echo "FAIL: the kill came elsewhere"; exit 1; }
run killed --resume || { cat killed.txt; exit 1; }
run older || { cat older.txt; exit 1; }
run older --resume-from runs/older/ckpt/ckpt-000000032.h5 || { cat older.txt; exit 1; }
"$TESSERA_PYTHON" - <<'PY' || exit 1
import csv
def rows(path):  # every column but the timings
    with open(path) as f:
        return [{k: v for k, v in r.items() if k not in ("samples_per_sec", "epoch_seconds", "data_wait_seconds")}
                for r in csv.DictReader(f)]
straight = rows("runs/straight/metrics.csv")
assert [r["epoch"] for r in straight] == ["1", "2", "3"], straight
for name in ("killed", "older"):
    resumed = rows(f"runs/{name}/metrics.csv")
    assert resumed == straight, f"{name}: epochs {[r['epoch'] for r in resumed]}, not the uninterrupted run's rows"
print("one row per epoch, the uninterrupted run's")
PY
# TensorBoard (its own reader over the whole log_dir) shows each step once, the uninterrupted run's values: the
# resumed run's events file starts a session at its first step, which hides the interrupted run's later events.
for name in straight killed older; do
  echo "{\"logdir\": \"runs/$name\"}" | "$TESSERA_TEST_VENV_PYTHON" "$TESSERA_SOURCE_DIR/tests/readers/tfevents.py" \
    > "tb-$name.json" || exit 1
done
"$TESSERA_PYTHON" - <<'PY' || exit 1
import json
def scalars(name):
    read = json.load(open(f"tb-{name}.json"))["scalars"]
    return {tag: read[tag] for tag in ("epoch/loss", "epoch/val_loss", "batch/loss")}
straight = scalars("straight")
assert [step for step, _ in straight["epoch/loss"]] == [32, 64, 96], straight["epoch/loss"]
for name in ("killed", "older"):
    assert scalars(name) == straight, f"{name}: TensorBoard shows {scalars(name)}"
print("TensorBoard shows each step once, the uninterrupted run's")
PY
echo "metrics rows after a resume OK"
