#!/usr/bin/env bash
# best.h5 survives --resume (issue 14, item 2). Epoch 1 scores well on the test set and becomes best.h5; the run
# is resumed for epoch 2 against a test set whose labels are all off by one, so epoch 2 scores far worse. The
# checkpoint carries ModelCheckpoint's best score, so the resumed run must keep epoch 1's best.h5 (before the fix
# every resume started with no best and replaced it). Also the warning of a resume at another CPU thread count.
set -euo pipefail
tessera=$1
source "$TESSERA_SOURCE_DIR/tests/launch/lib/tiny_job.sh"
make_tiny_job
TESSERA_NUM_THREADS=1 "$tessera" train tiny.json --progress lines > first.txt 2>&1 || { cat first.txt; exit 1; }
TESSERA_NUM_THREADS=2 "$tessera" train tiny.json --set epochs=2 --set 'data.test=["data/test_shifted.h5"]' --resume \
  --progress lines > resumed.txt 2>&1 || { cat resumed.txt; exit 1; }
cat first.txt resumed.txt | grep -E "^Epoch|resumed"
grep -q "resumed from runs/ckpt/ckpt-000000032.h5 at step 32, epoch 2" resumed.txt
# The CPU kernels' sums follow the thread count: a resume at another count says it is not bitwise; at the same, not.
grep -F "the checkpoint was written with 1 CPU threads per rank, this run has 2: training continues, but not bitwise" \
  resumed.txt || { cat resumed.txt; echo "FAIL: no warning of the other thread count"; exit 1; }
TESSERA_NUM_THREADS=2 "$tessera" train tiny.json --set epochs=3 --resume --progress lines > again.txt 2>&1 ||
  { cat again.txt; exit 1; }
! grep -q "CPU threads per rank" again.txt || { cat again.txt; echo "FAIL: warned at the same thread count"; exit 1; }
"$TESSERA_PYTHON" - <<'PY'
import json, h5py
def attrs(path):
    with h5py.File(path, "r") as f:
        return int(f.attrs["step"]), json.loads(f.attrs["meta"])
best_step, best_meta = attrs("runs/ckpt/best.h5")
assert best_meta["cpu_threads"] == 1, best_meta.get("cpu_threads")
last_step, last_meta = attrs("runs/ckpt/ckpt-000000064.h5")
assert last_meta["cpu_threads"] == 2, last_meta.get("cpu_threads")
first_best = best_meta["callbacks"]["model_checkpoint"]
assert first_best["monitor"] == "val_accuracy" and first_best["best"] > 0.5, first_best
assert last_meta["callbacks"]["model_checkpoint"] == first_best, (last_meta["callbacks"], first_best)
assert best_step == 32, f"best.h5 is step {best_step}: the worse resumed epoch replaced it"
print(f"best.h5 kept step 32 (val_accuracy {first_best['best']:.3f})")
PY
echo "resume keeps best OK"
