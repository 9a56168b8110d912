#!/usr/bin/env bash
# y of a shape the loss cannot compare with the model's outputs ends `tessera train` before any training, naming the
# key, file, dataset and shapes. A test set's y stored as a column (n, 1), common from pandas or Keras, used to fail
# only in validation, after a whole training epoch whose checkpoint was then never written, with
# "cross_entropy: expected a target of shape [256] for input of shape [256, 4], got [256, 1]" and no file named.
set -uo pipefail
tessera=$1
source "$TESSERA_SOURCE_DIR/tests/launch/lib/failing_job.sh"
source "$TESSERA_SOURCE_DIR/tests/launch/lib/tiny_job.sh"
make_tiny_job
"$TESSERA_PYTHON" - <<'PY'
import shutil, h5py
for name in ("train", "test"):
    shutil.copy(f"data/{name}.h5", f"data/{name}_column.h5")
    with h5py.File(f"data/{name}_column.h5", "r+") as f:
        y = f["y"][()][:, None]
        del f["y"]
        f["y"] = y
PY
no_training() {
  ! grep -q "^Epoch" out.txt || { echo "FAIL: training started before the bad y was reported"; exit 1; }
}
run_failing_job "$tessera" train tiny.json --set 'data.test=["data/test_column.h5"]' --progress lines
expect_output "config: data.test: dataset 'y' of file 'data/test_column.h5' has samples of shape [1]" \
  "needs class indices of shape []" "store it as (n,)"
no_training
run_failing_job "$tessera" train tiny.json --set 'data.train=["data/train_column.h5"]' --progress lines
expect_output "config: data.train: dataset 'y' of file 'data/train_column.h5' has samples of shape [1]"
no_training
# Element-wise losses take any y with an output's number of values: (n, 1) for 1 output trains; 4 outputs do not.
run_failing_job "$tessera" train tiny.json --set loss=mse --set 'metrics=[]' --progress lines
expect_output "config: data.train: dataset 'y' of file 'data/train.h5' has samples of shape []" \
  "loss mse with the model's outputs [4] per sample needs targets of shape [4]"
no_training
timeout 120 "$tessera" train tiny.json --set loss=mse --set 'metrics=[]' --set model.layers.2.out_features=1 \
  --set 'data.train=["data/train_column.h5"]' --set 'data.test=["data/test.h5"]' --progress lines >ok.txt 2>&1 ||
  { cat ok.txt; echo "FAIL: an (n, 1) y for one output did not train under mse"; exit 1; }
echo "train_target_shape: OK"
