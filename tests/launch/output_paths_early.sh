#!/usr/bin/env bash
# Output files written only at the end of a job are checked when it starts: `train --timeline`, `predict --out` and
# `export --out` into a folder that does not exist fail before any training or prediction, naming the flag, the path
# and the reason. (--timeline used to fail after the whole run, "cannot write the timeline file 'nodir/t.json'",
# exit 1, the final test evaluation skipped.) And a data file held open for writing by another process is reported
# as locked, not as "corrupt or truncated?".
set -uo pipefail
tessera=$1
source "$TESSERA_SOURCE_DIR/tests/launch/lib/failing_job.sh"
source "$TESSERA_SOURCE_DIR/tests/launch/lib/tiny_job.sh"
make_tiny_job
run_failing_job "$tessera" train tiny.json --timeline nodir/t.json --progress lines
expect_output "train: --timeline 'nodir/t.json': cannot write into the folder 'nodir': No such file or directory"
! grep -q "^Epoch" out.txt || { echo "FAIL: training ran before the bad --timeline was reported"; exit 1; }
[ ! -e runs/ckpt ] || { echo "FAIL: the refused run made runs/ckpt"; exit 1; }

timeout 120 "$tessera" train tiny.json --progress lines >train.txt 2>&1 ||
  { cat train.txt; echo "FAIL: training"; exit 1; }
run_failing_job "$tessera" predict tiny.json --checkpoint runs/ckpt/best.h5 --out nodir/p.h5
expect_output "predict: --out 'nodir/p.h5': cannot write into the folder 'nodir': No such file or directory"
run_failing_job "$tessera" export tiny.json --checkpoint runs/ckpt/best.h5 --out nodir/m.onnx
expect_output "export: --out 'nodir/m.onnx': cannot write into the folder 'nodir': No such file or directory"

HDF5_USE_FILE_LOCKING=TRUE "$TESSERA_PYTHON" -c '
import h5py, time
f = h5py.File("data/locked.h5", "w"); f["x"] = [1.0]; f.flush()
print("open", flush=True); time.sleep(60)' >holder.txt 2>&1 &
holder=$!
for _ in $(seq 200); do grep -q open holder.txt && break; sleep 0.1; done
HDF5_USE_FILE_LOCKING=TRUE run_failing_job "$tessera" data inspect data/locked.h5
kill "$holder"
expect_output "cannot open HDF5 file 'data/locked.h5' (locked: another process holds it open for writing"
echo "output_paths_early: OK"
