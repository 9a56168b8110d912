#!/usr/bin/env bash
# A training shard truncated in place while a 2-rank job reads it (cp or rsync over it, a node-local copy being
# refreshed). HDF5 reads the bytes past the new end as zeros without an error, so before the fix the job trained on
# zero rows (label 0) to the end and exited 0. It must end every rank non-zero with one error naming the file.
set -uo pipefail
tessera=$1
source "$TESSERA_SOURCE_DIR/tests/launch/lib/failing_job.sh"
mkdir -p data
"$TESSERA_PYTHON" - <<'PY'
import h5py, numpy as np
rng = np.random.default_rng(3)
centers = rng.normal(0, 3, (4, 16)).astype(np.float32)
for path, n in [("data/train.h5", 100000), ("data/test.h5", 256)]:
    y = rng.integers(0, 4, n)
    with h5py.File(path, "w") as f:
        f["x"] = (centers[y] + rng.normal(0, 1, (n, 16))).astype(np.float32)
        f["y"] = y.astype(np.int64)
PY
cat > job.json <<'JSON'
{"seed": 1,
 "model": {"layers": [{"type": "linear", "out_features": 32}, {"type": "relu"}, {"type": "linear", "out_features": 4}]},
 "data": {"train": ["data/train.h5"], "test": ["data/test.h5"]},
 "loss": "cross_entropy", "optimizer": {"type": "adamw", "lr": 0.01},
 "epochs": 100000, "batch_size": 32, "log_dir": "", "checkpoint": {"dir": ""}}
JSON
timeout 120 $MPIRUN -n 2 "$tessera" train job.json --progress lines > out.txt 2>&1 &
job=$!
# Truncated once the first epoch is done: the file is open on both ranks, and the later epochs read past its end.
# Epochs without end (0.1-0.5 s each): the job must still run at the truncation, whatever lag mpirun's output and
# this loop add (1 to 9 epochs seen on a loaded 2-core machine); without the fix it runs into timeout 120 (a FAIL).
for _ in $(seq 600); do grep -q "^Epoch 1/" out.txt && break; kill -0 $job 2>/dev/null || break; sleep 0.1; done
kill -0 $job 2>/dev/null || { cat out.txt; echo "FAIL: the job ended before the shard was truncated"; exit 1; }
truncate -s 1000000 data/train.h5
wait $job
status=$?
cat out.txt
[ "$status" -ne 0 ] || { echo "FAIL: the job trained on the truncated file and exited 0"; exit 1; }
[ "$status" -ne 124 ] || { echo "FAIL: the job hung until timeout 120"; exit 1; }
expect_output "data: file 'data/train.h5' changed while training read it"
! grep -q "^test:" out.txt || { echo "FAIL: the job went on to its evaluation"; exit 1; }
echo "truncated shard OK: exit $status"
