#!/usr/bin/env bash
# best.h5 survives --resume (issue 14, item 2). Epoch 1 scores well on the test set and becomes best.h5; the run
# is resumed for epoch 2 against a test set whose labels are all off by one, so epoch 2 scores far worse. The
# checkpoint carries ModelCheckpoint's best score, so the resumed run must keep epoch 1's best.h5 (before the fix
# every resume started with no best and replaced it).
set -euo pipefail
tessera=$1
source "$TESSERA_SOURCE_DIR/tests/launch/lib/tiny_job.sh"
make_tiny_job
"$tessera" train tiny.json --progress lines > first.txt 2>&1 || { cat first.txt; exit 1; }
"$tessera" train tiny.json --set epochs=2 --set 'data.test=["data/test_shifted.h5"]' --resume --progress lines \
  > resumed.txt 2>&1 || { cat resumed.txt; exit 1; }
cat first.txt resumed.txt | grep -E "^Epoch|resumed"
grep -q "resumed from runs/ckpt/ckpt-000000032.h5 at step 32, epoch 2" resumed.txt
"$TESSERA_PYTHON" - <<'PY'
import json, h5py
def attrs(path):
    with h5py.File(path, "r") as f:
        return int(f.attrs["step"]), json.loads(f.attrs["meta"])
best_step, best_meta = attrs("runs/ckpt/best.h5")
last_step, last_meta = attrs("runs/ckpt/ckpt-000000064.h5")
first_best = best_meta["callbacks"]["model_checkpoint"]
assert first_best["monitor"] == "val_accuracy" and first_best["best"] > 0.5, first_best
assert last_meta["callbacks"]["model_checkpoint"] == first_best, (last_meta["callbacks"], first_best)
assert best_step == 32, f"best.h5 is step {best_step}: the worse resumed epoch replaced it"
print(f"best.h5 kept step 32 (val_accuracy {first_best['best']:.3f})")
PY
echo "resume keeps best OK"
