#!/usr/bin/env bash
# Divergence never costs a checkpoint (issue 14, item 1). With optimizer.lr=1e6 the loss turns NaN within the
# first epoch: the job must exit non-zero naming the step and the loss, skip the final evaluation, and leave no
# checkpoint or best.h5 holding NaN or inf. A checkpoint NaN-filled by hand must be refused by --resume, naming the
# file and the tensor, without writing anything.
set -uo pipefail
tessera=$1
source "$TESSERA_SOURCE_DIR/tests/launch/lib/failing_job.sh"
source "$TESSERA_SOURCE_DIR/tests/launch/lib/tiny_job.sh"
make_tiny_job

run_failing_job "$tessera" train tiny.json --set optimizer.lr=1e6 --set epochs=3 --set checkpoint.dir=runs/diverged \
  --progress lines
expect_output "training diverged at step" "the batch loss is"
grep -Eq "diverged at step [0-9]+ \(epoch 1\): the batch loss is -?(nan|inf)" out.txt \
  || { echo "FAIL: the message lacks the step or the loss"; exit 1; }
! grep -q "^test:" out.txt || { echo "FAIL: the diverged model was evaluated"; exit 1; }
shopt -s nullglob
written=(runs/diverged/*.h5)
[ ${#written[@]} -eq 0 ] || check_finite "${written[@]}"

# A good run, then its newest checkpoint NaN-filled by hand: --resume refuses it and writes nothing.
"$tessera" train tiny.json --set checkpoint.dir=runs/good --progress lines > good.txt 2>&1 || { cat good.txt; exit 1; }
check_finite runs/good/ckpt-000000032.h5 runs/good/best.h5
"$TESSERA_PYTHON" - <<'PY'
import h5py, numpy as np
with h5py.File("runs/good/ckpt-000000032.h5", "r+") as f:
    f["model/0.weight"][...] = np.nan
    del f["model/0.weight"].attrs["crc32c"]  # as from a writer without CRCs: else the CRC32C check refuses it first
PY
before=$(ls runs/good)
run_failing_job "$tessera" train tiny.json --set checkpoint.dir=runs/good --set epochs=2 --resume --progress lines
expect_output "checkpoint 'runs/good/ckpt-000000032.h5': tensor model/0.weight holds NaN or inf; refusing to load it"
! grep -q "^Epoch" out.txt || { echo "FAIL: training started from the NaN checkpoint"; exit 1; }
[ "$(ls runs/good)" = "$before" ] || { echo "FAIL: the refused resume changed the checkpoint folder"; ls runs/good; exit 1; }
check_finite runs/good/best.h5
echo "divergence OK"
