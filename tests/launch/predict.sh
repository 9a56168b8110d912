#!/usr/bin/env bash
# `tessera predict` (Keras's model.predict): the tiny job's checkpoint predicts a file holding x only (250 rows, so
# no rank count divides them) on 1, 2 and 3 ranks. Each file's outputs equal PyTorch's forward of the checkpoint's
# weights (read with h5py) row for row, probabilities its softmax, predicted its argmax, and the multi-rank files
# equal the one-rank file (the ranks' shares put back in row order). Without --data the config's data.test is
# predicted (on 2 ranks; a set with half its labels off by one), and the accuracy of `predicted` against its labels
# is the one `tessera evaluate` prints. Bad input: no
# --out, a missing checkpoint, data without the config's x each fail naming it; data whose samples have another
# shape than the training data's (20 features, not 16) fails naming the data's sample shape and the data as a
# possible cause, not only "another model, or the config's model changed"; a failed run leaves no file.
set -euo pipefail
tessera=$1
source "$TESSERA_SOURCE_DIR/tests/launch/lib/tiny_job.sh"
make_tiny_job
"$tessera" train tiny.json --set epochs=2 --progress lines >train.txt 2>&1 || { cat train.txt; exit 1; }
ckpt=runs/ckpt/ckpt-000000064.h5
"$TESSERA_PYTHON" - <<'PY'
import h5py, numpy as np
with h5py.File("data/test.h5", "r") as f, h5py.File("data/unlabelled.h5", "w") as out:
    out["x"] = f["x"][:250]
# Half the labels off by one: an accuracy near 0.5 that only predictions in the right rows reproduce.
with h5py.File("data/test.h5", "r") as f, h5py.File("data/test_shifted.h5", "r") as g, \
        h5py.File("data/mixed.h5", "w") as out:
    out["x"] = f["x"][...]
    out["y"] = np.concatenate([f["y"][:128], g["y"][128:]])
with h5py.File("data/wide.h5", "w") as out:
    out["x"] = np.ones((5, 20), np.float32)
PY
predict() { timeout 120 "$@" >predict.txt 2>&1 || { cat predict.txt; echo "FAIL: $*"; exit 1; }; cat predict.txt; }
predict "$tessera" predict tiny.json --checkpoint "$ckpt" --out one.h5 --data data/unlabelled.h5
predict $MPIRUN -n 2 "$tessera" predict tiny.json --checkpoint "$ckpt" --out two.h5 --data data/unlabelled.h5
predict $MPIRUN -n 3 "$tessera" predict tiny.json --checkpoint "$ckpt" --out three.h5 --data data/unlabelled.h5
grep -q "predictions of 250 samples written to three.h5: outputs \[250, 4\], probabilities \[250, 4\], predicted \[250\]" \
  predict.txt
mixed=(--set 'data.test=["data/mixed.h5"]')
predict $MPIRUN -n 2 "$tessera" predict tiny.json --checkpoint "$ckpt" --out test.h5 "${mixed[@]}"
"$tessera" evaluate tiny.json --checkpoint "$ckpt" "${mixed[@]}" >evaluate.txt 2>&1 || { cat evaluate.txt; exit 1; }
accuracy=$(sed -n 's/^test: loss [0-9.]* accuracy \([0-9.]*\) (256 samples)$/\1/p' evaluate.txt)
[ -n "$accuracy" ] || { cat evaluate.txt; echo "FAIL: no accuracy from tessera evaluate"; exit 1; }
# cuda_graph concerns training steps only: a config asking for it still evaluates on the CPU (it was refused).
"$tessera" evaluate tiny.json --checkpoint "$ckpt" "${mixed[@]}" --set cuda_graph=true --set device=cpu \
  >graph.txt 2>&1 || { cat graph.txt; echo "FAIL: evaluate refused a config with cuda_graph on the CPU"; exit 1; }
grep -q "^test: loss [0-9.]* accuracy [0-9.]* (256 samples)$" graph.txt || { cat graph.txt; exit 1; }

"$TESSERA_PYTHON" - "$ckpt" "$accuracy" <<'PY'
import json, sys
import h5py, numpy as np, torch
checkpoint, evaluated = sys.argv[1], float(sys.argv[2])
with h5py.File(checkpoint, "r") as f:
    w = {name: torch.from_numpy(f["model"][name][...]) for name in f["model"]}
def forward(x):
    hidden = torch.relu(torch.from_numpy(x) @ w["0.weight"].T + w["0.bias"])
    return (hidden @ w["2.weight"].T + w["2.bias"]).numpy()
def read(path):
    with h5py.File(path, "r") as f:
        return {name: f[name][...] for name in f}, dict(f.attrs)
with h5py.File("data/unlabelled.h5", "r") as f:
    x = f["x"][...]
expected = forward(x)
one, attrs = read("one.h5")
assert attrs["checkpoint"] == checkpoint and attrs["loss"] == "cross_entropy" and attrs["data"] == "data/unlabelled.h5"
assert json.loads(attrs["config"])["data"]["test"] == ["data/unlabelled.h5"], attrs["config"]
for path in ("one.h5", "two.h5", "three.h5"):
    got, _ = read(path)
    assert got["outputs"].dtype == np.float32 and got["outputs"].shape == (250, 4), (path, got["outputs"].shape)
    np.testing.assert_allclose(got["outputs"], expected, rtol=1e-5, atol=1e-5, err_msg=path)
    np.testing.assert_allclose(got["probabilities"], torch.softmax(torch.from_numpy(expected), 1).numpy(),
                               rtol=1e-5, atol=1e-6, err_msg=path)
    assert got["predicted"].dtype == np.int64 and np.array_equal(got["predicted"], expected.argmax(1)), path
    # Equal up to float rounding: on a GPU the ranks' GEMMs have other row counts, so cuBLAS may pick other kernels.
    np.testing.assert_allclose(got["outputs"], one["outputs"], rtol=2e-6, atol=1e-6, err_msg=f"{path} against one.h5")
test, _ = read("test.h5")
with h5py.File("data/mixed.h5", "r") as f:
    labels = f["y"][...]
accuracy = float((test["predicted"] == labels).mean())
assert abs(accuracy - evaluated) < 1e-4 and 0.3 < accuracy < 0.7, (accuracy, evaluated)
print(f"predict OK: outputs match PyTorch on 1, 2 and 3 ranks; test accuracy {accuracy:.4f} as evaluate says")
PY

fails() {  # fails "expected text" -- command...
  local expected=$1; shift 2
  if "$@" 2>err.txt >/dev/null; then echo "FAIL: accepted: $*"; exit 1; fi
  grep -qF -- "$expected" err.txt || { echo "FAIL: $* said:"; cat err.txt; echo "expected: $expected"; exit 1; }
}
fails "--out" -- "$tessera" predict tiny.json --checkpoint "$ckpt"
fails "runs/ckpt/missing.h5" -- "$tessera" predict tiny.json --checkpoint runs/ckpt/missing.h5 --out bad.h5
fails "images" -- "$tessera" predict tiny.json --checkpoint "$ckpt" --out bad.h5 --set data.x=images
fails "does not fit the config's model as built for the data's samples of shape [20]" -- \
  "$tessera" predict tiny.json --checkpoint "$ckpt" --out bad.h5 --data data/wide.h5
grep -qF "or data whose samples differ from those it was trained on" err.txt &&
  grep -qF 'size mismatch for "0.weight": shape [32, 16] in the state dict, [32, 20] in the model' err.txt \
  || { cat err.txt; echo "FAIL: the error does not name the data as a cause, or not the tensor"; exit 1; }
[ ! -e bad.h5 ] || { echo "FAIL: a failed predict left bad.h5"; exit 1; }
echo "predict: OK"
