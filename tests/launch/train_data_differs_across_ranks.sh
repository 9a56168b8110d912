#!/usr/bin/env bash
# Every rank must read the same data: ranks started in two folders whose data/train.h5 copies differ in rows (node-
# local copies, one stale) stop before training with one error naming the file and each rank's rows. Before, rank 0
# planned 32 batches an epoch and rank 1 fewer: rank 1's epoch-end metrics all-reduce was summed with a gradient
# bucket of rank 0, and the job then hung until the collective timeout (600 s), naming no file.
set -uo pipefail
tessera=$1
source "$TESSERA_SOURCE_DIR/tests/launch/lib/failing_job.sh"
source "$TESSERA_SOURCE_DIR/tests/launch/lib/tiny_job.sh"
mkdir -p a b
(cd a && make_tiny_job)
(cd b && make_tiny_job)
"$TESSERA_PYTHON" - <<'PY'
import h5py
with h5py.File("b/data/train.h5", "r+") as f:  # b's copy is cut short: 1000 of the 1024 rows
    x, y = f["x"][:1000], f["y"][:1000]
    del f["x"], f["y"]
    f["x"], f["y"] = x, y
PY
run_failing_job $MPIRUN -n 1 -wdir "$PWD/a" "$tessera" train tiny.json --progress lines : \
  -n 1 -wdir "$PWD/b" "$tessera" train tiny.json --progress lines
expect_output "the data differs across ranks" "rank 0 has data.train file 'data/train.h5': 1024 rows" \
  "rank 1 has data.train file 'data/train.h5': 1000 rows"
! grep -q "^Epoch" out.txt || { echo "FAIL: training started on data that differs across ranks"; exit 1; }
[ "$elapsed" -lt 60 ] || { echo "FAIL: took ${elapsed} s (a collective timeout?)"; exit 1; }

# The same copies on both ranks train as before.
cp a/data/train.h5 b/data/train.h5
timeout 120 $MPIRUN -n 1 -wdir "$PWD/a" "$tessera" train tiny.json --progress lines : \
  -n 1 -wdir "$PWD/b" "$tessera" train tiny.json --progress lines >ok.txt 2>&1 ||
  { cat ok.txt; echo "FAIL: identical copies did not train"; exit 1; }
echo "train_data_differs_across_ranks: OK"
