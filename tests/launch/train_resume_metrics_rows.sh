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
echo "metrics rows after a resume OK"
