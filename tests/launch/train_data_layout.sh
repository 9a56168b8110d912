#!/usr/bin/env bash
# data.layout: images stored channels-last (N,H,W,C, as NumPy and Keras keep them) train exactly as the same images
# stored N,C,H,W. One data set written by NumPy/h5py three ways: N,C,H,W; N,H,W,C; and N,H,W,C converted by
# `tessera data from-npy --layout nhwc` (x's layout attribute). A small conv net with per-channel mean/std trains a
# few steps on each: data.layout nhwc and auto (by the shape, and by the attribute) end with checkpoints bitwise
# equal to the N,C,H,W run's. Without the key, the channels-last data fails before training with one error naming
# the file, dataset, its shape and data.layout (a model that builds on it anyway trains, warned); data marked N,H,W,C
# read as nchw fails the same way; a bad value of data.layout is named.
set -uo pipefail
tessera=$1
source "$TESSERA_SOURCE_DIR/tests/launch/lib/failing_job.sh"
source "$TESSERA_SOURCE_DIR/tests/launch/lib/tiny_job.sh"

"$TESSERA_PYTHON" - <<'PY' || exit 1
import h5py, numpy as np
rng = np.random.default_rng(9)
x = rng.integers(0, 256, (96, 3, 12, 10)).astype(np.uint8)   # N, C, H, W
y = (x[:, 0].mean(axis=(1, 2)) > x[:, 1].mean(axis=(1, 2))).astype(np.int64) + 2 * (x[:, 2, :6].mean(axis=(1, 2)) > 127)
nhwc = np.ascontiguousarray(x.transpose(0, 2, 3, 1))
with h5py.File("nchw.h5", "w") as f:
    f["x"], f["y"] = x, y
with h5py.File("nhwc.h5", "w") as f:
    f["x"], f["y"] = nhwc, y
np.save("x_nhwc.npy", nhwc)
np.save("y.npy", y)
# Channels-last whose shape alone does not say so (H = 3): only the layout attribute tells.
np.save("x_tall.npy", np.ascontiguousarray(rng.integers(0, 256, (96, 3, 12, 3)).astype(np.uint8)))
PY
"$tessera" data from-npy x_nhwc.npy y.npy --layout nhwc --out marked >/dev/null 2>&1 || exit 1
"$tessera" data from-npy x_tall.npy y.npy --layout nhwc --out tall >/dev/null 2>&1 || exit 1

cat > layout.json <<'JSON'
{"seed": 3,
 "model": {"layers": [{"type": "conv2d", "out_channels": 4, "kernel_size": 3, "padding": 1}, {"type": "relu"},
                      {"type": "maxpool2d", "kernel_size": 2}, {"type": "flatten"}, {"type": "linear", "out_features": 4}]},
 "data": {"train": ["nchw.h5"], "test": ["nchw.h5"], "x": "x", "y": "y", "scale": 0.00392156862745098,
          "mean": [0.5, 0.4, 0.3], "std": [0.25, 0.2, 0.3]},
 "loss": "cross_entropy",
 "optimizer": {"type": "adamw", "lr": 0.01},
 "epochs": 2, "batch_size": 16, "log_dir": ""}
JSON

train() {  # train NAME --set ...: checkpoints in runs/NAME
  local name=$1; shift
  "$tessera" train layout.json --set checkpoint.dir=runs/$name "$@" >"$name.txt" 2>&1 || { cat "$name.txt"; exit 1; }
}
train nchw
train nhwc --set 'data.train=["nhwc.h5"]' --set 'data.test=["nhwc.h5"]' --set data.layout=nhwc
train auto_shape --set 'data.train=["nhwc.h5"]' --set 'data.test=["nhwc.h5"]' --set data.layout=auto
train auto_attribute --set 'data.train=["marked/train-*.h5"]' --set 'data.test=["marked/train-*.h5"]' --set data.layout=auto
last=runs/nchw/$(ls runs/nchw | tail -n 1)
for run in nhwc auto_shape auto_attribute; do
  same_tensors "$last" "runs/$run/$(basename "$last")"
  grep "^Epoch 2/2" "$run.txt" | sed 's/ - [0-9]* samples\/s.*//' >"$run.epoch"
  grep "^Epoch 2/2" nchw.txt | sed 's/ - [0-9]* samples\/s.*//' | cmp -s - "$run.epoch" ||
    { echo "FAIL: $run's metrics differ from nchw's:"; cat "$run.epoch"; grep "^Epoch 2/2" nchw.txt; exit 1; }
done

# Channels-last data read as nchw: one early error naming the file, dataset, shape and data.layout.
run_failing_job "$tessera" train layout.json --set 'data.train=["nhwc.h5"]' --set 'data.test=["nhwc.h5"]'
# With per-channel mean/std the data set itself finds it out (3 values for 12 "channels").
expect_output "dataset 'x' of file 'nhwc.h5': data.mean has 3 values; expected 1 or 12 (one per entry of dim 1 of its samples [12, 10, 3], read with layout nchw); its last dimension looks like channels" \
  "set the layout to nhwc or auto (\"data.layout\" in a tessera train config)"
! grep -q "^Epoch" out.txt || { echo "FAIL: training started"; exit 1; }
# Without them, the model does, at build time: this shape gives 12 input channels, too small after pooling.
"$TESSERA_PYTHON" -c "
import h5py, numpy as np
with h5py.File('narrow.h5', 'w') as f:
    f['x'] = np.zeros((8, 64, 1, 1), np.uint8); f['y'] = np.zeros(8, np.int64)" || exit 1
run_failing_job "$tessera" train layout.json --set 'data.train=["narrow.h5"]' --set 'data.test=[]' --set 'data.mean=[]' \
  --set 'data.std=[]'
expect_output "the model cannot take the samples of dataset 'x' of file 'narrow.h5' (shape [8, 64, 1, 1], read with layout nchw as samples [64, 1, 1]) with data.layout \"nchw\"; its last dimension looks like channels" \
  "set the layout to nhwc or auto (\"data.layout\" in a tessera train config): config: model.layers[2] (maxpool2d)"
! grep -q "^Epoch" out.txt || { echo "FAIL: training started"; exit 1; }
# A model that happens to build on channels-last samples read as nchw (flatten, linear) trains, with a warning.
"$tessera" train layout.json --set 'data.train=["nhwc.h5"]' --set 'data.test=[]' --set 'data.mean=[]' --set 'data.std=[]' \
  --set 'model.layers=[{"type": "flatten"}, {"type": "linear", "out_features": 4}]' --set epochs=1 >mlp.txt 2>&1 ||
  { cat mlp.txt; exit 1; }
job_output=mlp.txt expect_output "warning: dataset 'x' of file 'nhwc.h5' (shape [96, 12, 10, 3], read with layout nchw as samples [12, 10, 3]) is read with data.layout \"nchw\"; its last dimension looks like channels"
# Marked N,H,W,C (attribute) but read as nchw: refused even though this shape would build.
run_failing_job "$tessera" train layout.json --set 'data.train=["tall/train-*.h5"]' --set 'data.test=[]' \
  --set 'data.mean=[0.5]' --set 'data.std=[0.25]'
expect_output "dataset 'x' of file 'tall/train-00000-of-00001.h5' is marked channels-last (its 'layout' attribute is N,H,W,C) but is read with layout nchw" \
  "(data.layout in a tessera train config)"
# ... and read correctly with data.layout auto.
train tall --set 'data.train=["tall/train-*.h5"]' --set 'data.test=[]' --set data.layout=auto
run_failing_job "$tessera" train layout.json --set data.layout=channels_last
expect_output "config: data.layout: \"channels_last\" is not one of: nchw, nhwc, auto"
echo "train data.layout: OK"
