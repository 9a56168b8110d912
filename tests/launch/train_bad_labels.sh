#!/usr/bin/env bash
# Bad class labels end `tessera train` before any training, naming the file, the dataset and the row (issue 14,
# item 11). A float label (2.5) used to be truncated to 2 silently; a test-set label outside the classes was only
# found by the loss after a whole training epoch, naming no file. Labels are now checked in every row when the
# datasets are opened; the class count comes from y's `classes` attribute (as `tessera data fashion-mnist` writes)
# and from the model's number of outputs, once it is built (before, a label without an output failed inside the
# loss, naming no file: at the first batch holding it, or for the test set after a whole training epoch).
set -uo pipefail
tessera=$1
source "$TESSERA_SOURCE_DIR/tests/launch/lib/failing_job.sh"
source "$TESSERA_SOURCE_DIR/tests/launch/lib/tiny_job.sh"
make_tiny_job

"$TESSERA_PYTHON" - <<'PY'
import shutil, h5py, numpy as np
# Training labels stored as floats, one of them 2.5 (row 5).
shutil.copy("data/train.h5", "data/train_float.h5")
with h5py.File("data/train_float.h5", "r+") as f:
    y = f["y"][...].astype(np.float64)
    y[5] = 2.5
    del f["y"]
    f["y"] = y
# Test labels declaring 4 classes, one of them 4 (row 200).
shutil.copy("data/test.h5", "data/test_above.h5")
with h5py.File("data/test_above.h5", "r+") as f:
    f["y"][200] = 4
    f["y"].attrs["classes"] = 4
# Test labels without a `classes` attribute, one of them 4 (row 100): only the model's 4 outputs reject it.
shutil.copy("data/test.h5", "data/test_model.h5")
with h5py.File("data/test_model.h5", "r+") as f:
    f["y"][100] = 4
# The first row of the training labels holding the largest class, 3.
with h5py.File("data/train.h5", "r") as f, open("first_3.txt", "w") as out:
    print(int(np.argmax(f["y"][()] == 3)), file=out)
PY

no_training() {
  ! grep -q "^Epoch" out.txt || { echo "FAIL: training started before the bad label was reported"; exit 1; }
}

run_failing_job "$tessera" train tiny.json --set 'data.train=["data/train_float.h5"]' --progress lines
expect_output "row 5 of dataset 'y' in file 'data/train_float.h5' holds the class label 2.5" "whole numbers"
no_training

run_failing_job "$tessera" train tiny.json --set 'data.test=["data/test_above.h5"]' --progress lines
expect_output "row 200 of dataset 'y' in file 'data/test_above.h5' holds the class label 4, outside [0, 4)"
no_training

# The model's outputs as the class count: 3 outputs for labels 0..3, then a test label 4 for 4 outputs.
run_failing_job "$tessera" train tiny.json --set model.layers.2.out_features=3 --progress lines
expect_output "row $(cat first_3.txt) of dataset 'y' in file 'data/train.h5' holds the class label 3, outside [0, 3)" \
  "(the model's 3 outputs, one per class)"
no_training
run_failing_job "$tessera" train tiny.json --set 'data.test=["data/test_model.h5"]' --progress lines
expect_output "row 100 of dataset 'y' in file 'data/test_model.h5' holds the class label 4, outside [0, 4) (the model's 4"
no_training

# Whole labels in range (stored as floats or integers) train as before.
"$TESSERA_PYTHON" - <<'PY'
import h5py, numpy as np
with h5py.File("data/train_float.h5", "r+") as f:
    f["y"][5] = 2.0
PY
"$tessera" train tiny.json --set 'data.train=["data/train_float.h5"]' --progress lines > good.txt 2>&1 \
  || { cat good.txt; echo "FAIL: whole float labels were rejected"; exit 1; }
grep -q "^test:" good.txt || { cat good.txt; echo "FAIL: no evaluation"; exit 1; }
echo "bad labels OK"
