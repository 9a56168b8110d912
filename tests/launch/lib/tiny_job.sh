# Sourced by train_diverge.sh and train_resume_best.sh: a tiny, learnable classification job that trains in
# seconds (written with h5py, not Tessera).
#   make_tiny_job          writes data/{train,test,test_shifted}.h5 (test_shifted: every label off by one, so a
#                          trained model scores near 0 on it) and tiny.json (4 classes, 32 steps per epoch)
#   check_finite FILE...   fails unless every dataset of every checkpoint FILE is finite
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
