#!/usr/bin/env bash
# `tessera export` to ONNX, run by onnxruntime (an independent runtime, from the test venv): four models trained for
# a few steps (so weights and BatchNorm's running statistics have moved) are exported, and onnxruntime's outputs on
# the same inputs equal `tessera predict`'s (eval mode) within float rounding.
#   mlp: the tiny job's linear + relu
#   cnn: the config's other layer types: conv2d (stride, padding, dilation, groups), batchnorm2d, maxpool2d,
#        avgpool2d (padded, count_include_pad), gelu (exact and tanh), tanh, sigmoid, flatten, dropout, linear,
#        batchnorm1d, layernorm, silu
#   raw: u8 images stored channels-last with data.layout nhwc, data.scale and per-channel mean/std, exported
#        --with-preprocessing: onnxruntime gets the stored pixels (as float32) and the graph does the loader's part
#   gap: leaky_relu (negative_slope 0.2, ONNX LeakyRelu) and adaptive_avg_pool2d with output_size 1
#        (GlobalAveragePool) after a maxpool2d
# Also: onnxruntime sees input x [N, C, H, W] with N free (batches of 1 and 7 run); a bad --out fails naming it.
# ceil_mode pooling exports exactly (below), but for avgpool2d with padding and count_include_pad true. Refused,
# naming the layer, exit non-zero and no output file: that one, and adaptive_avg_pool2d with output_size [2, 2].
# Skips (77) where the build has no ONNX (the GPU machine has no libonnx-dev); fails instead under launch/test.sh.
set -euo pipefail
tessera=$1
source "$TESSERA_SOURCE_DIR/tests/launch/lib/tiny_job.sh"
source "$TESSERA_SOURCE_DIR/tests/launch/lib/dependencies.sh"
make_tiny_job
if "$tessera" export tiny.json --checkpoint none.h5 --out none.onnx 2>&1 | grep -q "this build has no ONNX"; then
  missing_dependency "this build has no ONNX (libonnx-dev)"
fi
"$TESSERA_PYTHON" - <<'PY'
import h5py, numpy as np
rng = np.random.default_rng(2)
for name, n in (("images_train", 256), ("images_test", 61)):
    y = rng.integers(0, 4, n)
    x = rng.normal(0, 1, (n, 4, 9, 9)).astype(np.float32) + y[:, None, None, None].astype(np.float32)
    with h5py.File(f"data/{name}.h5", "w") as f:
        f["x"], f["y"] = x, y
for name, n in (("raw_train", 192), ("raw_test", 50)):
    y = rng.integers(0, 3, n)
    x = np.clip(rng.normal(100, 40, (n, 6, 5, 3)) + 30 * y[:, None, None, None], 0, 255).astype(np.uint8)
    with h5py.File(f"data/{name}.h5", "w") as f:
        f["x"], f["y"] = x, y
PY
cat > cnn.json <<'JSON'
{"seed": 3,
 "model": {"layers": [
   {"type": "conv2d", "out_channels": 8, "kernel_size": 3, "padding": 1, "stride": 1},
   {"type": "batchnorm2d"}, {"type": "gelu"},
   {"type": "conv2d", "out_channels": 8, "kernel_size": [3, 2], "dilation": 2, "groups": 2, "padding": [2, 1]},
   {"type": "tanh"}, {"type": "maxpool2d", "kernel_size": 2},
   {"type": "avgpool2d", "kernel_size": 3, "stride": 1, "padding": 1},
   {"type": "conv2d", "out_channels": 6, "kernel_size": 2, "stride": 2, "bias": false}, {"type": "sigmoid"},
   {"type": "flatten"}, {"type": "dropout", "p": 0.3},
   {"type": "linear", "out_features": 16}, {"type": "batchnorm1d"}, {"type": "gelu", "approximate": "tanh"},
   {"type": "layernorm"}, {"type": "silu"}, {"type": "linear", "out_features": 4}]},
 "data": {"train": ["data/images_train.h5"], "test": ["data/images_test.h5"], "x": "x", "y": "y"},
 "loss": "cross_entropy", "optimizer": {"type": "adamw", "lr": 0.01},
 "epochs": 2, "batch_size": 32, "log_dir": "", "checkpoint": {"dir": "runs/cnn", "keep": 1}}
JSON
cat > raw.json <<'JSON'
{"seed": 4,
 "model": {"layers": [{"type": "conv2d", "out_channels": 4, "kernel_size": 3}, {"type": "relu"},
                      {"type": "flatten"}, {"type": "linear", "out_features": 3}]},
 "data": {"train": ["data/raw_train.h5"], "test": ["data/raw_test.h5"], "x": "x", "y": "y", "layout": "nhwc",
          "scale": 0.00392156862745098, "mean": [0.5, 0.4, 0.3], "std": [0.2, 0.25, 0.3]},
 "loss": "cross_entropy", "optimizer": {"type": "adamw", "lr": 0.01},
 "epochs": 2, "batch_size": 32, "log_dir": "", "checkpoint": {"dir": "runs/raw", "keep": 1}}
JSON
cat > gap.json <<'JSON'
{"seed": 5,
 "model": {"layers": [
   {"type": "conv2d", "out_channels": 6, "kernel_size": 3, "padding": 1}, {"type": "batchnorm2d"},
   {"type": "leaky_relu", "negative_slope": 0.2},
   {"type": "maxpool2d", "kernel_size": 2},
   {"type": "adaptive_avg_pool2d", "output_size": 1}, {"type": "flatten"}, {"type": "linear", "out_features": 4}]},
 "data": {"train": ["data/images_train.h5"], "test": ["data/images_test.h5"], "x": "x", "y": "y"},
 "loss": "cross_entropy", "optimizer": {"type": "adamw", "lr": 0.01},
 "epochs": 1, "batch_size": 32, "log_dir": "", "checkpoint": {"dir": "runs/gap", "keep": 1}}
JSON
for model in tiny cnn raw gap; do
  timeout 120 "$tessera" train $model.json --progress lines >$model-train.txt 2>&1 || { cat $model-train.txt; exit 1; }
  ckpt=$(ls runs/$( [ $model = tiny ] && echo ckpt || echo $model )/ckpt-*.h5 | tail -n 1)
  extra=$( [ $model = raw ] && echo --with-preprocessing || true )
  "$tessera" export $model.json --checkpoint "$ckpt" --out $model.onnx $extra | tee $model-export.txt
  "$tessera" predict $model.json --checkpoint "$ckpt" --out $model-predictions.h5 >/dev/null
done
grep -q "to cnn.onnx" cnn-export.txt
grep -q "input x: \[N, 4, 9, 9\]" cnn-export.txt
grep -q "input x: \[N, 6, 5, 3\], float32, as the data files store it" raw-export.txt

"$TESSERA_TEST_VENV_PYTHON" - <<'PY'
import h5py, numpy as np, onnxruntime
for model, data in (("tiny", "data/test.h5"), ("cnn", "data/images_test.h5"), ("raw", "data/raw_test.h5"),
                    ("gap", "data/images_test.h5")):
    with h5py.File(data, "r") as f:
        x = f["x"][...].astype(np.float32)
    with h5py.File(f"{model}-predictions.h5", "r") as f:
        expected = f["outputs"][...]
    session = onnxruntime.InferenceSession(f"{model}.onnx", providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["x"], session.get_inputs()
    got = session.run(["outputs"], {"x": x})[0]
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5, err_msg=model)
    for rows in (1, 7):  # N is free
        np.testing.assert_allclose(session.run(["outputs"], {"x": x[:rows]})[0], expected[:rows], rtol=1e-4, atol=1e-5)
    print(f"{model}: onnxruntime {onnxruntime.__version__} matches tessera predict on {len(x)} samples "
          f"(largest difference {np.abs(got - expected).max():.2e})")
PY

if "$tessera" export tiny.json --checkpoint runs/ckpt/best.h5 --out model.pt 2>err.txt; then
  echo "FAIL: export accepted --out model.pt"; exit 1
fi
grep -q "only .onnx is written, got 'model.pt'" err.txt || { cat err.txt; exit 1; }
# ceil_mode: ONNX's is not PyTorch's (it keeps a last window that starts in the padding, and averages over the part
# of a window past the input), so the export writes floor mode with the end padding PyTorch's last window needs.
# Exact for maxpool2d (ceil_max: 9x9 -> 5x5, one more row and column than floor mode), avgpool2d without padding
# (ceil_avg, count_include_pad true: PyTorch clips its window to the input) and avgpool2d with padding and
# count_include_pad false (ceil_avg_pad: 8x8, kernel 3, stride 2, padding 1 -> 5x5, floor mode 4x4); refused with
# padding and count_include_pad true (ceil_avg_pad_counted: its last windows' divisor has no ONNX form). Before,
# all of them were refused, and before that exported with ONNX's ceil_mode, up to 3.24 off.
# adaptive_avg_pool2d [2, 2]: layer 3 of gap.json instead of its maxpool2d (the 1x1 adaptive pool after it keeps
# gap's checkpoint fitting), and relu for its leaky_relu (no weights either; so that before the fix, too, the
# refusal was about layer 3).
cat > ceil_max.json <<'JSON'
{"seed": 6,
 "model": {"layers": [
   {"type": "conv2d", "out_channels": 6, "kernel_size": 3, "padding": 1}, {"type": "batchnorm2d"}, {"type": "relu"},
   {"type": "maxpool2d", "kernel_size": 2, "ceil_mode": true},
   {"type": "flatten"}, {"type": "linear", "out_features": 4}]},
 "data": {"train": ["data/images_train.h5"], "test": ["data/images_test.h5"], "x": "x", "y": "y"},
 "loss": "cross_entropy", "optimizer": {"type": "adamw", "lr": 0.01},
 "epochs": 1, "batch_size": 32, "log_dir": "", "checkpoint": {"dir": "runs/ceil", "keep": 1}}
JSON
sed 's|"maxpool2d"|"avgpool2d"|' ceil_max.json >ceil_avg.json
sed -e 's|"kernel_size": 3, "padding": 1}|"kernel_size": 2}|' \
    -e 's|{"type": "maxpool2d", "kernel_size": 2, "ceil_mode": true}|{"type": "avgpool2d", "kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": true, "count_include_pad": false}|' \
    -e 's|runs/ceil"|runs/ceil_pad"|' ceil_max.json >ceil_avg_pad.json
sed 's|"count_include_pad": false|"count_include_pad": true|' ceil_avg_pad.json >ceil_avg_pad_counted.json
grep -q '"count_include_pad": false' ceil_avg_pad.json
grep -q '"count_include_pad": true' ceil_avg_pad_counted.json
sed -e 's|{"type": "maxpool2d", "kernel_size": 2}|{"type": "adaptive_avg_pool2d", "output_size": [2, 2]}|' \
    -e 's|{"type": "leaky_relu", "negative_slope": 0.2}|{"type": "relu"}|' gap.json >adaptive22.json
grep -q '"output_size": \[2, 2\]' adaptive22.json
for model in ceil_max ceil_avg_pad; do
  timeout 120 "$tessera" train $model.json --progress lines >$model-train.txt 2>&1 || { cat $model-train.txt; exit 1; }
done
for model in ceil_max:runs/ceil ceil_avg:runs/ceil ceil_avg_pad:runs/ceil_pad; do
  "$tessera" export ${model%%:*}.json --checkpoint ${model#*:}/best.h5 --out ${model%%:*}.onnx >/dev/null
  "$tessera" predict ${model%%:*}.json --checkpoint ${model#*:}/best.h5 --out ${model%%:*}-predictions.h5 >/dev/null
done
"$TESSERA_TEST_VENV_PYTHON" - <<'PY'
import h5py, numpy as np, onnxruntime
with h5py.File("data/images_test.h5", "r") as f:
    x = f["x"][...].astype(np.float32)
for model in ("ceil_max", "ceil_avg", "ceil_avg_pad"):
    with h5py.File(f"{model}-predictions.h5", "r") as f:
        expected = f["outputs"][...]
    session = onnxruntime.InferenceSession(f"{model}.onnx", providers=["CPUExecutionProvider"])
    got = session.run(["outputs"], {"x": x})[0]
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5, err_msg=model)
    print(f"{model}: onnxruntime matches tessera predict (largest difference {np.abs(got - expected).max():.2e})")
PY
refused() {  # refused NAME CHECKPOINT "expected text"
  if "$tessera" export $1.json --checkpoint $2 --out $1.onnx 2>err.txt >/dev/null; then
    echo "FAIL: export accepted $1.json"; exit 1
  fi
  grep -qF "$3" err.txt || { cat err.txt; echo "FAIL: expected: $3"; exit 1; }
  [ ! -e $1.onnx ] || { echo "FAIL: a refused export left $1.onnx"; exit 1; }
}
refused ceil_avg_pad_counted runs/ceil_pad/best.h5 \
  "layer 3 (AvgPool2d) has ceil_mode true with padding and count_include_pad true"
refused adaptive22 runs/gap/best.h5 "layer 3 (AdaptiveAvgPool2d) has output_size (2, 2); only (1, 1) exports"
echo "export OK"
