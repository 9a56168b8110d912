#!/usr/bin/env bash
# Bad input under mpirun: every case ends the whole job non-zero with one message naming the file and dataset,
# well inside a timeout (exit 124 would mean a hang). Cases: a missing dataset on every rank, a file that is not
# HDF5 on one rank only while the other waits in a barrier, a 1-D dataset for an image model, a missing file, a
# glob matching nothing, mismatched first dimensions, a zero-length dataset, a truncated file on one rank, and
# `tessera data inspect` on a missing file. Files are written here by h5py. (A file deleted while the reader
# thread runs is tests/io/test_loader_errors.cpp's FileDeletedWhileReading.)
set -euo pipefail
driver=$TESSERA_TEST_DRIVERS/io_read_epoch

"$TESSERA_PYTHON" - <<'PY'
import h5py, numpy as np
with h5py.File("good.h5", "w") as f:
    f["x"] = np.zeros((40, 1, 4, 4), np.uint8); f["y"] = np.arange(40)
with h5py.File("no_y.h5", "w") as f:
    f["x"] = np.zeros((40, 1, 4, 4), np.uint8); f["label"] = np.arange(40)
with h5py.File("flat.h5", "w") as f:
    f["x"] = np.zeros(40); f["y"] = np.arange(40)
with h5py.File("mismatched.h5", "w") as f:
    f["x"] = np.zeros((40, 1, 4, 4), np.uint8); f["y"] = np.arange(39)
with h5py.File("empty.h5", "w") as f:
    f["x"] = np.zeros((0, 1, 4, 4), np.uint8); f["y"] = np.arange(0)
with h5py.File("truncated.h5", "w") as f:
    f["x"] = np.zeros((400, 1, 4, 4), np.uint8); f["y"] = np.arange(400)
import os
os.truncate("truncated.h5", os.path.getsize("truncated.h5") - 64)
open("not_hdf5.h5", "w").write("just text\n" * 50)
PY

# expect_failure NAME EXPECTED_TEXT COMMAND...: the job must fail (not time out) and stderr must hold the text.
expect_failure() {
  local name=$1 expected=$2
  shift 2
  local status=0
  timeout 120 "$@" >"$name.out" 2>"$name.err" || status=$?
  if [ "$status" -eq 0 ]; then echo "$name: the job succeeded"; cat "$name.out"; exit 1; fi
  if [ "$status" -eq 124 ]; then echo "$name: the job hung (timeout)"; cat "$name.err"; exit 1; fi
  if ! grep -qF -- "$expected" "$name.err"; then echo "$name: message missing '$expected':"; cat "$name.err"; exit 1; fi
  if grep -q "read .* samples" "$name.out"; then echo "$name: a rank finished as if nothing happened"; exit 1; fi
  echo "$name: exit $status, message: $(grep -F -- "$expected" "$name.err" | head -n 1)"
}

# The good file works under 2 ranks (so the failures below are the input's fault).
timeout 120 $MPIRUN -n 2 "$driver" --files good.h5 --rank4 | sort | tee good.out
[ "$(grep -c 'read 20 samples' good.out)" -eq 2 ] || { echo "good input did not read 20 samples per rank"; exit 1; }

expect_failure missing_dataset "dataset 'y' not found in file 'no_y.h5'" $MPIRUN -n 2 "$driver" --files no_y.h5
expect_failure one_rank_not_hdf5 "file 'not_hdf5.h5' is not an HDF5 file (no HDF5 signature) (looking for datasets 'x', 'y')" \
  $MPIRUN -n 2 "$driver" --files good.h5 --bad-rank 1 --bad-files not_hdf5.h5
expect_failure wrong_rank "dataset 'x' of file 'flat.h5' has rank 1" $MPIRUN -n 3 "$driver" --files flat.h5 --rank4
expect_failure missing_file "file 'gone.h5' does not exist (looking for datasets 'x', 'y')" $MPIRUN -n 2 "$driver" --files gone.h5
expect_failure glob_nothing "file pattern 'nothing-*.h5' matches no file (looking for datasets 'x', 'y')" \
  $MPIRUN -n 2 "$driver" --files 'nothing-*.h5'
expect_failure mismatched "dataset 'y' of file 'mismatched.h5' has 39 rows but dataset 'x' has 40" $MPIRUN -n 2 "$driver" --files mismatched.h5
expect_failure empty "dataset 'x' of file 'empty.h5' is empty" $MPIRUN -n 2 "$driver" --files empty.h5
expect_failure truncated "cannot open HDF5 file 'truncated.h5'" $MPIRUN -n 2 "$driver" --files good.h5 --bad-rank 0 --bad-files truncated.h5
expect_failure inspect_missing "file 'missing.h5' does not exist" $MPIRUN -n 2 "$TESSERA" data inspect missing.h5
echo "bad input under mpirun: OK"
