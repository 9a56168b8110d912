#!/usr/bin/env bash
# `tessera train` end to end on 2 ranks: Fashion-MNIST converted to shards, the MLP config trained for 2 epochs
# (a quick run; the README's main command trains the full configs), then every artefact checked by an independent
# reader: metrics.csv and config.json by Python, the TensorBoard file by TensorBoard's own reader (tags, steps,
# values equal to metrics.csv), the checkpoints by h5py; `tessera evaluate` on the last checkpoint reproduces the
# test accuracy that training printed.
set -euo pipefail
tessera=$1
source "$TESSERA_SOURCE_DIR/tests/launch/lib/dependencies.sh"
require_fashion_mnist
"$tessera" data fashion-mnist --out data/fmnist --shards 2 >/dev/null
config=$TESSERA_SOURCE_DIR/configs/fashion_mnist_mlp.json

timeout 900 $MPIRUN -n 2 "$tessera" train "$config" --set epochs=2 --set log_dir=runs/mlp \
  --set checkpoint.dir=runs/mlp/ckpt --set tensorboard.histogram_every=469 | tee train.txt
accuracy=$(grep '^test:' train.txt | sed 's/.*accuracy \([0-9.]*\).*/\1/')
awk -v a="$accuracy" 'BEGIN { exit !(a >= 0.84) }' || { echo "FAIL: test accuracy $accuracy after 2 epochs"; exit 1; }
grep -q "ranks 2, batch 64 per rank, 469 steps per epoch" train.txt

timeout 120 $MPIRUN -n 2 "$tessera" evaluate "$config" --checkpoint runs/mlp/ckpt/ckpt-000000938.h5 | tee eval.txt
grep -qF "$(grep '^test:' train.txt)" eval.txt || { echo "FAIL: evaluate disagrees with training's final test line"; exit 1; }

"$TESSERA_PYTHON" - <<'PY'
import csv, glob, json
import h5py, numpy as np

rows = list(csv.DictReader(open("runs/mlp/metrics.csv")))
assert list(rows[0].keys()) == ["epoch", "step", "loss", "accuracy", "val_loss", "val_accuracy", "lr",
                                "samples_per_sec", "epoch_seconds", "data_wait_seconds"], rows[0].keys()
assert all(0 <= float(r["data_wait_seconds"]) < float(r["epoch_seconds"]) for r in rows), rows
assert [r["epoch"] for r in rows] == ["1", "2"] and [r["step"] for r in rows] == ["469", "938"], rows
assert float(rows[1]["loss"]) < float(rows[0]["loss"]), rows
config = json.load(open("runs/mlp/config.json"))
assert config["epochs"] == 2 and config["optimizer"]["beta2"] == 0.999 and config["log_dir"] == "runs/mlp", config
files = sorted(glob.glob("runs/mlp/ckpt/ckpt-*.h5"))
assert [f.split("/")[-1] for f in files] == ["ckpt-000000469.h5", "ckpt-000000938.h5"], files
with h5py.File(files[-1], "r") as f:
    assert f.attrs["format"] == "tessera.checkpoint.v1" and f.attrs["step"] == 938 and f.attrs["world_size"] == 2
    assert f["model/1.weight"].shape == (256, 784) and f["model/1.weight"].dtype == np.float32
    assert f["model/6.bias"].shape == (10,)
    assert "optimizer/state.0.exp_avg_sq" in f and "scheduler/last_epoch" in f
    assert json.loads(f.attrs["meta"])["config"]["seed"] == 1
print("metrics.csv, config.json and checkpoints OK")
PY

events=$(ls runs/mlp/events.out.tfevents.*)
echo "{\"path\": \"$events\"}" | "$TESSERA_TEST_VENV_PYTHON" "$TESSERA_SOURCE_DIR/tests/readers/tfevents.py" > tb.json
"$TESSERA_PYTHON" - <<'PY'
import csv, json
tb = json.load(open("tb.json"))["scalars"]
rows = list(csv.DictReader(open("runs/mlp/metrics.csv")))
for tag, column in [("epoch/loss", "loss"), ("epoch/accuracy", "accuracy"), ("epoch/val_accuracy", "val_accuracy"),
                    ("epoch/learning_rate", "lr"), ("epoch/samples_per_sec", "samples_per_sec")]:
    steps = [s for s, v, t in tb[tag]]
    assert steps == [469, 938], (tag, steps)
    for (s, v, t), row in zip(tb[tag], rows):
        assert abs(v - float(row[column])) <= 1e-6 * max(1.0, abs(v)), (tag, v, row[column])
assert [s for s, v, t in tb["batch/loss"]] == list(range(10, 939, 10)), tb["batch/loss"][:3]
print("TensorBoard scalars OK:", sorted(tb))
# Histograms every 469 steps of every parameter and its gradient; the last one of a weight against the checkpoint
# of the same step read by h5py; the run's config as text.
read = json.load(open("tb.json"))
import h5py, numpy as np
histograms = read["histograms"]
assert sorted(histograms) == sorted(f"{kind}/{i}.{p}" for kind in ("weights", "gradients") for i in (1, 4, 6)
                                    for p in ("weight", "bias")), sorted(histograms)
assert [s for s, h in histograms["gradients/1.weight"]] == [469, 938]
w = h5py.File("runs/mlp/ckpt/ckpt-000000938.h5", "r")["model/1.weight"][()].astype(np.float64).ravel()
step, h = histograms["weights/1.weight"][-1]
assert step == 938 and h["num"] == w.size and h["min"] == w.min() and h["max"] == w.max(), (step, h["num"])
assert abs(h["sum"] - w.sum()) <= 1e-9 * np.abs(w).sum() and abs(h["sum_squares"] - (w * w).sum()) <= 1e-9 * (w * w).sum()
counts, _ = np.histogram(w, bins=30, range=(w.min(), w.max()))
assert np.abs(np.array(h["bucket"]) - counts).sum() <= 2, (h["bucket"], counts)  # edges may round either way
text = read["texts"]["config"][0][1][0]
assert json.loads(text.removeprefix("```json\n").removesuffix("\n```")) == json.load(open("runs/mlp/config.json"))
print("TensorBoard histograms and config text OK")
PY
echo "train end to end OK (test accuracy $accuracy)"
