# Sourced by the train_*.sh tests: a tiny, learnable classification job that trains in seconds (written with h5py,
# not Tessera), and checks of its checkpoints read with h5py (an independent reader).
#   make_tiny_job          writes data/{train,test,test_shifted}.h5 (test_shifted: every label off by one, so a
#                          trained model scores near 0 on it) and tiny.json (4 classes, 32 steps per epoch)
#   check_finite FILE...   fails unless every dataset of every checkpoint FILE is finite
#   flip_bit FILE          flips an exponent bit of model/0.weight[0] in place (it stays finite but huge), as a
#                          failing disk would; the tensor's CRC32C no longer matches
#   same_tensors A B       fails unless checkpoints A and B hold the same step and bitwise equal tensors
make_tiny_job() {
  mkdir -p data
  "$TESSERA_PYTHON" - <<'PY'
import h5py, numpy as np
rng = np.random.default_rng(3)
centers = rng.normal(0, 3, (4, 16)).astype(np.float32)
def write(path, n, shift=0):
    y = rng.integers(0, 4, n)
    x = centers[y] + rng.normal(0, 1, (n, 16)).astype(np.float32)
    with h5py.File(path, "w") as f:
        f["x"] = x.astype(np.float32)
        f["y"] = ((y + shift) % 4).astype(np.int64)
write("data/train.h5", 1024)
write("data/test.h5", 256)
write("data/test_shifted.h5", 256, shift=1)
PY
  cat > tiny.json <<'JSON'
{"seed": 1,
 "model": {"layers": [{"type": "linear", "out_features": 32}, {"type": "relu"}, {"type": "linear", "out_features": 4}]},
 "data": {"train": ["data/train.h5"], "test": ["data/test.h5"], "x": "x", "y": "y"},
 "loss": "cross_entropy",
 "optimizer": {"type": "adamw", "lr": 0.01, "weight_decay": 0.01},
 "epochs": 1, "batch_size": 32,
 "log_dir": "", "checkpoint": {"dir": "runs/ckpt", "keep": 3}}
JSON
}

check_finite() {
  "$TESSERA_PYTHON" - "$@" <<'PY' || { echo "FAIL: a checkpoint holds NaN or inf"; exit 1; }
import sys, h5py, numpy as np
bad = []
for path in sys.argv[1:]:
    with h5py.File(path, "r") as f:
        def visit(name, obj):
            if isinstance(obj, h5py.Dataset) and obj.dtype.kind == "f" and not np.all(np.isfinite(obj[()])):
                bad.append(f"{path}: {name}")
        f.visititems(visit)
print("\n".join(bad) if bad else f"finite: {' '.join(sys.argv[1:])}")
sys.exit(1 if bad else 0)
PY
}

flip_bit() {
  "$TESSERA_PYTHON" - "$1" <<'PY' || { echo "FAIL: cannot flip a bit in $1"; exit 1; }
import sys, h5py, numpy as np
with h5py.File(sys.argv[1], "r+") as f:
    w = f["model/0.weight"]
    bits = w[()].view(np.uint32)
    before = bits.view(np.float32).flat[0]
    bits.flat[0] ^= np.uint32(1 << 30)  # an exponent bit
    w[...] = bits.view(np.float32)
    print(f"{sys.argv[1]}: flipped model/0.weight[0]: {before} -> {w[()].flat[0]}")
PY
}

same_tensors() {
  "$TESSERA_PYTHON" - "$1" "$2" <<'PY' || { echo "FAIL: $1 and $2 differ"; exit 1; }
import sys, h5py, numpy as np
def tensors(path):
    with h5py.File(path, "r") as f:
        found = {}
        f.visititems(lambda name, obj: found.__setitem__(name, obj[()]) if isinstance(obj, h5py.Dataset) else None)
        return int(f.attrs["step"]), found
(step_a, a), (step_b, b) = tensors(sys.argv[1]), tensors(sys.argv[2])
assert step_a == step_b, f"step {step_a} != {step_b}"
assert a.keys() == b.keys(), sorted(set(a) ^ set(b))
for name in a:
    assert a[name].dtype == b[name].dtype and np.array_equal(a[name], b[name]), \
        f"{name} differs: largest difference {np.abs(a[name].astype(np.float64) - b[name]).max()}"
print(f"bitwise equal at step {step_a} ({len(a)} tensors): {sys.argv[1]} {sys.argv[2]}")
PY
}
