#!/usr/bin/env bash
# Issue 15's training knobs through `tessera train` on the tiny job (2 ranks, seconds each), checked with h5py and
# the logs:
#  1. gradient_accumulation_steps=3 and checkpoint.every_steps=4: 16 batches a rank per epoch make 6 optimizer
#     steps; checkpoints at steps 4 and 8 (inside epochs) and 6 and 12 (epoch ends); a run resumed from the one at
#     step 4 (inside epoch 1, mid-way) ends bitwise equal to the uninterrupted run, also with metrics added; so
#     does a run with steps_per_execution=4, whose step checkpoints come at the reads that passed a multiple of 4.
#  2. callbacks.reduce_lr_on_plateau and callbacks.early_stopping: nothing counts as an improvement (min_delta 10),
#     so the rate halves after every epoch but the first and training stops after epoch 4 (patience 3); a run
#     resumed from the epoch-3 checkpoint goes on at the reduced rate and stops at the same place, bitwise; one
#     resumed with a new optimizer.lr trains at that rate.
#  3. loss {cross_entropy, label_smoothing} with metrics top3_accuracy, top2_accuracy and confusion_matrix:
#     metrics.csv gains their columns in that order, confusion_matrix.csv holds each epoch's validation matrix (its
#     diagonal is val_accuracy), and TensorBoard has the per-class precision scalars and the matrix as a text table.
#  4. init_from with exclude: a fresh run starts from another run's weights except the excluded head; a model whose
#     shapes differ is refused naming the file and the tensor.
#  5. best.h5 of a run that logs no accuracy (mse): written for the best val_loss.
#  6. precision f16 and optimizer.clip_grad_norm reach the training step.
#  7. data.drop_last drops each rank's last short batch (a batch of one sample that batch norm cannot train on).
set -euo pipefail
tessera=$1
source "$TESSERA_SOURCE_DIR/tests/launch/lib/tiny_job.sh"
make_tiny_job
run() {  # run NAME [args...]
  local name=$1; shift
  timeout 120 $MPIRUN -n 2 "$tessera" train tiny.json --progress lines --set log_dir=runs/$name \
    --set checkpoint.dir=runs/$name/ckpt "$@" > "$name.txt" 2>&1 || { cat "$name.txt"; return 1; }
}
ckpt() { printf "runs/%s/ckpt/ckpt-%09d.h5" "$1" "$2"; }

# 1. Accumulation and checkpoints every N steps.
accumulate=(--set epochs=2 --set gradient_accumulation_steps=3 --set checkpoint.every_steps=4 --set checkpoint.keep=10)
run accumulate "${accumulate[@]}"
grep -q "ranks 2, batch 32 per rank x 3 accumulated, 6 steps per epoch" accumulate.txt || { cat accumulate.txt; exit 1; }
found=$(cd runs/accumulate/ckpt && ls ckpt-*.h5 | tr '\n' ' ')
[ "$found" = "ckpt-000000004.h5 ckpt-000000006.h5 ckpt-000000008.h5 ckpt-000000012.h5 " ] ||
  { echo "FAIL: checkpoints $found"; exit 1; }
run accumulate_resumed "${accumulate[@]}" --resume-from "$(ckpt accumulate 4)"
grep -q "at step 4, epoch 1" accumulate_resumed.txt || { cat accumulate_resumed.txt; exit 1; }
same_tensors "$(ckpt accumulate 12)" "$(ckpt accumulate_resumed 12)"
# steps_per_execution=4: the logs are read every 4 steps and at each epoch's end; training is the same, bitwise, and
# step checkpoints come where the steps since the last read passed a multiple of 4: 4, then 10 (steps 7-10 hold 8).
run grouped "${accumulate[@]}" --set steps_per_execution=4
found=$(cd runs/grouped/ckpt && ls ckpt-*.h5 | tr '\n' ' ')
[ "$found" = "ckpt-000000004.h5 ckpt-000000006.h5 ckpt-000000010.h5 ckpt-000000012.h5 " ] ||
  { echo "FAIL: steps_per_execution=4: checkpoints $found"; exit 1; }
same_tensors "$(ckpt accumulate 12)" "$(ckpt grouped 12)"
# The same resume with other metrics: the checkpoint's epoch sums (another layout) are dropped, the run goes on.
run accumulate_more_metrics "${accumulate[@]}" --resume-from "$(ckpt accumulate 4)" \
  --set 'metrics=["accuracy", "top2_accuracy"]'
same_tensors "$(ckpt accumulate 12)" "$(ckpt accumulate_more_metrics 12)"

# 2. ReduceLROnPlateau and EarlyStopping from the config, and across a resume.
plateau=(--set epochs=10 --set 'callbacks={"reduce_lr_on_plateau": {"factor": 0.5, "patience": 0, "min_delta": 10},
         "early_stopping": {"patience": 3, "min_delta": 10}}')
run plateau "${plateau[@]}"
grep -q "EarlyStopping: val_loss did not improve for 3 epochs; stopped after epoch 4" plateau.txt || { cat plateau.txt; exit 1; }
[ "$(grep -c 'ReduceLROnPlateau: val_loss did not improve for 1 epochs; lr' plateau.txt)" = 3 ] || { cat plateau.txt; exit 1; }
"$TESSERA_PYTHON" - <<'PY'
import csv
rows = list(csv.DictReader(open("runs/plateau/metrics.csv")))
lrs = [float(r["lr"]) for r in rows]  # logged before the epoch's callbacks reduce it
assert lrs == [0.01, 0.01, 0.005, 0.0025], lrs
print("metrics.csv learning rates", lrs)
PY
run plateau_resumed "${plateau[@]}" --resume-from "$(ckpt plateau 48)"
grep -q "stopped after epoch 4" plateau_resumed.txt || { cat plateau_resumed.txt; exit 1; }
same_tensors "$(ckpt plateau 64)" "$(ckpt plateau_resumed 64)"
# A new optimizer.lr on resume takes effect over the rate the callback had reduced to (0.0025 after epoch 3): epoch 4
# trains at 0.02 (before the fix the override line was printed and the callback's 0.0025 came back).
run plateau_new_lr "${plateau[@]}" --resume-from "$(ckpt plateau 48)" --set optimizer.lr=0.02
grep -qxF "override on resume: optimizer.lr 0.01 -> 0.02" plateau_new_lr.txt || { cat plateau_new_lr.txt; exit 1; }
"$TESSERA_PYTHON" - <<'PY'
import csv
lrs = [float(r["lr"]) for r in csv.DictReader(open("runs/plateau_new_lr/metrics.csv"))]
assert lrs == [0.02], lrs
print("resumed with a new optimizer.lr: epoch 4 at", lrs)
PY

# 3. Losses and metrics.
run metrics --set epochs=2 --set 'loss={"type": "cross_entropy", "label_smoothing": 0.1}' \
  --set 'metrics=["accuracy", "top3_accuracy", "top2_accuracy", "confusion_matrix"]' --set log_dir=runs/metrics
# The final test line names every configured metric, not only loss and accuracy (per-class ones stay in the files).
grep -qE "^test: loss [0-9.]+ accuracy [0-9.]+ top2_accuracy [0-9.]+ top3_accuracy [0-9.]+ \(256 samples\)$" \
  metrics.txt || { cat metrics.txt; echo "FAIL: the test line leaves out metrics"; exit 1; }
events=$(ls runs/metrics/events.out.tfevents.*)
echo "{\"path\": \"$events\"}" | "$TESSERA_TEST_VENV_PYTHON" "$TESSERA_SOURCE_DIR/tests/readers/tfevents.py" > tb.json
"$TESSERA_PYTHON" - <<'PY'
import csv, json
rows = list(csv.DictReader(open("runs/metrics/metrics.csv")))
header = next(csv.reader(open("runs/metrics/metrics.csv")))
# The config's metrics in its order, training ones beside accuracy, validation ones beside val_accuracy.
assert header[:10] == ["epoch", "step", "loss", "accuracy", "top3_accuracy", "top2_accuracy", "val_loss",
                       "val_accuracy", "val_top3_accuracy", "val_top2_accuracy"], header
for r in rows:
    assert float(r["accuracy"]) <= float(r["top2_accuracy"]) and float(r["val_accuracy"]) <= float(r["val_top2_accuracy"]), r
matrix = list(csv.DictReader(open("runs/metrics/confusion_matrix.csv")))
assert [m["epoch"] for m in matrix] == ["1"] * 4 + ["2"] * 4, [m["epoch"] for m in matrix]
for epoch, row in ((1, rows[0]), (2, rows[1])):
    cells = [[float(m[f"predicted_{p}"]) for p in range(4)] for m in matrix if m["epoch"] == str(epoch)]
    assert sum(map(sum, cells)) == 256, cells  # every test sample once
    assert abs(sum(cells[c][c] for c in range(4)) / 256 - float(row["val_accuracy"])) < 1e-9, (cells, row)
tb = json.load(open("tb.json"))
assert all(f"epoch/val_precision/{c}" in tb["scalars"] for c in range(4)), sorted(tb["scalars"])
assert "epoch/val_top2_accuracy" in tb["scalars"]
table = tb["texts"]["val_confusion_matrix"][-1][1][0]
assert table.startswith("| true \\ predicted | 0 | 1 | 2 | 3 |"), table
print("losses and metrics OK")
PY

# 4. init_from: all but the head (layer 2) from the accumulation run; lr 1e-30 leaves the loaded weights as they were.
run init --set max_steps=1 --set optimizer.lr=1e-30 --set init_from.file="$(ckpt accumulate 12)" \
  --set 'init_from.exclude=["2."]'
grep -q "init_from: 2 tensors from $(ckpt accumulate 12)" init.txt || { cat init.txt; exit 1; }
"$TESSERA_PYTHON" - "$(ckpt accumulate 12)" "$(ckpt init 1)" <<'PY'
import sys, h5py, numpy as np
source, started = (h5py.File(p, "r")["model"] for p in sys.argv[1:])
for name in ("0.weight", "0.bias"):
    assert np.array_equal(source[name][()], started[name][()]), name
for name in ("2.weight", "2.bias"):
    assert not np.array_equal(source[name][()], started[name][()]), f"{name} was loaded despite exclude"
print("init_from loaded 0.* and kept the fresh head 2.*")
PY
if run init_bad --set model.layers.0.out_features=16 --set init_from="$(ckpt accumulate 12)"; then
  echo "FAIL: init_from into another shape succeeded"; exit 1
fi
grep -q "init_from: $(ckpt accumulate 12): tensor '0.weight' has shape \[32, 16\], the model's has \[16, 16\]" init_bad.txt ||
  { cat init_bad.txt; exit 1; }

# 5. best.h5 without the accuracy metric: a regression run (mse, one output, no metrics) keeps the epoch with the best
#    val_loss (best.h5 watched val_accuracy alone, which such a run never logs, so it was never written).
run regression --set epochs=2 --set loss=mse --set model.layers.2.out_features=1
[ -f runs/regression/ckpt/best.h5 ] || { ls runs/regression/ckpt; echo "FAIL: no best.h5 without accuracy"; exit 1; }
"$TESSERA_PYTHON" -c 'import json, h5py
m = json.loads(h5py.File("runs/regression/ckpt/best.h5", "r").attrs["meta"])["callbacks"]["model_checkpoint"]
assert m["monitor"] == "val_loss" and m["best"] is not None, m
print("best.h5 of a regression run:", m)' || exit 1

# 6. precision and optimizer.clip_grad_norm reach the training step (README lists both as tested here; nothing did).
#    f16: the checkpoint records the GradScaler's scale, which an f32 run records as 1. clip_grad_norm 1e-9 under
#    sgd keeps every weight within 4 steps * lr * 1e-9 of where a run at lr 1e-30 leaves it; without it lr 0.1 moves
#    them far.
run f16 --set max_steps=4 --set precision=f16
"$TESSERA_PYTHON" -c 'import json, h5py
m = json.loads(h5py.File("runs/f16/ckpt/ckpt-000000004.h5", "r").attrs["meta"])
assert m["loss_scale"] > 1, m["loss_scale"]' || { echo "FAIL: precision f16 did not reach the training step"; exit 1; }
sgd=(--set max_steps=4 --set 'optimizer={"type": "sgd", "lr": 0.1}')
run sgd_start "${sgd[@]}" --set optimizer.lr=1e-30
run sgd_clipped "${sgd[@]}" --set optimizer.clip_grad_norm=1e-9
run sgd_unclipped "${sgd[@]}"
"$TESSERA_PYTHON" - "$(ckpt sgd_start 4)" "$(ckpt sgd_clipped 4)" "$(ckpt sgd_unclipped 4)" <<'PY'
import sys, h5py, numpy as np
start, clipped, unclipped = (h5py.File(p, "r")["model"] for p in sys.argv[1:])
moved = lambda run: max(float(np.abs(run[k][()] - start[k][()]).max()) for k in start)
assert moved(clipped) < 1e-8, moved(clipped)
assert moved(unclipped) > 1e-4, moved(unclipped)
print(f"clip_grad_norm 1e-9: weights moved {moved(clipped):.1e}; unclipped {moved(unclipped):.1e}")
PY

# 7. data.drop_last: 512 samples a rank in batches of 511 leave a last batch of one sample, which batch norm cannot
#    train on; with drop_last each rank takes one step per epoch and training goes on.
bn=(--set epochs=2 --set batch_size=511 --set 'model.layers=[{"type": "linear", "out_features": 32},
  {"type": "batchnorm1d"}, {"type": "relu"}, {"type": "linear", "out_features": 4}]')
if run short_batch "${bn[@]}"; then echo "FAIL: batch norm trained on a batch of one sample"; exit 1; fi
grep -q "a batch of one sample" short_batch.txt || { cat short_batch.txt; exit 1; }
run drop_last "${bn[@]}" --set data.drop_last=true
grep -q "ranks 2, batch 511 per rank, 1 steps per epoch" drop_last.txt && [ -f "$(ckpt drop_last 2)" ] ||
  { cat drop_last.txt; echo "FAIL: data.drop_last"; exit 1; }
echo "training knobs OK"
