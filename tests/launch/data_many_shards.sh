#!/usr/bin/env bash
# 10,000 shards train under `ulimit -n 256` (issue 14, item 12). The reader used to keep every shard open, so more
# than about a thousand shards failed under the common `ulimit -n 1024`; now it keeps a bounded number open
# (LoaderOptions::max_open_files, by default a quarter of `ulimit -n`: 64 here) and reopens on demand.
# 10,000 two-sample shards written by h5py; one shuffled epoch of `tessera train` on them, with a test set of 1,000
# of the same shards read by a second loader, must finish: 313 steps of 64 and 2,000 test samples.
set -euo pipefail
tessera=$1

mkdir -p shards
"$TESSERA_PYTHON" - <<'PY'
import h5py, numpy as np
rng = np.random.default_rng(5)
for k in range(10000):
    y = rng.integers(0, 2, 2)
    with h5py.File(f"shards/s{k:05d}.h5", "w") as f:
        f["x"] = (rng.normal(0, 1, (2, 4)) + 2 * y[:, None]).astype(np.float32)
        f["y"] = y.astype(np.int64)
PY
ls shards | wc -l | grep -qx 10000 || { echo "FAIL: expected 10000 shards"; exit 1; }

cat > many.json <<'JSON'
{"seed": 1,
 "model": {"layers": [{"type": "linear", "out_features": 2}]},
 "data": {"train": ["shards/s*.h5"], "test": ["shards/s00[0-9][0-9][0-9].h5"], "x": "x", "y": "y"},
 "loss": "cross_entropy",
 "optimizer": {"type": "sgd", "lr": 0.1},
 "epochs": 1, "batch_size": 64,
 "log_dir": ""}
JSON

start=$SECONDS
(ulimit -n 256 && timeout 120 "$tessera" train many.json --progress lines) > out.txt 2>&1 || {
  status=$?
  cat out.txt
  echo "FAIL: training on 10,000 shards under ulimit -n 256 ended with status $status"; exit 1
}
cat out.txt
grep -q "^Epoch 1/1 - step 313 " out.txt || { echo "FAIL: no whole epoch (313 steps of 64) was trained"; exit 1; }
grep -q "^test: .*(2000 samples)" out.txt || { echo "FAIL: the 1,000-shard test set was not evaluated"; exit 1; }
echo "10,000 shards under ulimit -n 256: OK in $((SECONDS - start)) s"
