#!/usr/bin/env bash
# --resume with nothing to resume (issue 14, item 10) is an error naming the folder it looked in, as given and as
# resolved: relative paths in a config resolve against the current folder, so a job started from another folder
# looks elsewhere (before the fix it silently trained from scratch). --resume=if-present keeps "start afresh when
# there is nothing yet" for job scripts (also where the config keeps no checkpoint.dir), and resumes once there is a
# checkpoint.
set -uo pipefail
tessera=$1
source "$TESSERA_SOURCE_DIR/tests/launch/lib/failing_job.sh"
source "$TESSERA_SOURCE_DIR/tests/launch/lib/tiny_job.sh"
make_tiny_job
here=$(pwd -P)

run_failing_job "$tessera" train tiny.json --resume --progress lines
expect_output "train --resume: no checkpoint to resume in checkpoint.dir 'runs/ckpt' ($here/runs/ckpt, which does not exist)" \
  "--resume=if-present"
! grep -q "^Epoch" out.txt || { echo "FAIL: trained from scratch"; exit 1; }

"$tessera" train tiny.json --resume=if-present --progress lines > fresh.txt 2>&1 || { cat fresh.txt; exit 1; }
grep -qF -- "--resume=if-present: no checkpoint in runs/ckpt yet: starting afresh" fresh.txt &&
  grep -q "^Epoch 1/1" fresh.txt && test -f runs/ckpt/ckpt-000000032.h5 || { cat fresh.txt; echo "FAIL: fresh start"; exit 1; }
"$tessera" train tiny.json --resume=if-present --set epochs=2 --progress lines > again.txt 2>&1 || { cat again.txt; exit 1; }
grep -q "resumed from runs/ckpt/ckpt-000000032.h5 at step 32, epoch 2" again.txt ||
  { cat again.txt; echo "FAIL: --resume=if-present did not resume"; exit 1; }

# The same config from another folder (data given absolutely): runs/ckpt now means elsewhere/runs/ckpt.
mkdir elsewhere && cd elsewhere
data=(--set "data.train=[\"$here/data/train.h5\"]" --set "data.test=[\"$here/data/test.h5\"]")
run_failing_job "$tessera" train ../tiny.json --resume "${data[@]}"
expect_output "no checkpoint to resume in checkpoint.dir 'runs/ckpt' ($here/elsewhere/runs/ckpt, which does not exist)"
mkdir -p runs/ckpt
run_failing_job "$tessera" train ../tiny.json --resume "${data[@]}"
expect_output "no checkpoint to resume in checkpoint.dir 'runs/ckpt' ($here/elsewhere/runs/ckpt):"
cd ..

# A config without checkpoint.dir: --resume is an error, --resume=if-present (which launch/slurm/train.sbatch passes to
# every requeued job) starts afresh.
run_failing_job "$tessera" train tiny.json --resume --set checkpoint.dir= --set log_dir=runs/none
expect_output "train --resume: the config has no checkpoint.dir to resume from"
"$tessera" train tiny.json --resume=if-present --set checkpoint.dir= --set log_dir=runs/none --progress lines \
  > none.txt 2>&1 || { cat none.txt; exit 1; }
grep -qF -- "--resume=if-present: the config has no checkpoint.dir: starting afresh" none.txt &&
  grep -q "^Epoch 1/1" none.txt || { cat none.txt; echo "FAIL: no checkpoint.dir"; exit 1; }
# ... every time: a requeued job (no --overwrite) replaces its previous attempt's epoch logs.
"$tessera" train tiny.json --resume=if-present --set checkpoint.dir= --set log_dir=runs/none --progress lines \
  > none2.txt 2>&1 || { cat none2.txt; echo "FAIL: the second attempt without checkpoint.dir"; exit 1; }
grep -q "^Epoch 1/1" none2.txt && [ "$(wc -l < runs/none/metrics.csv)" -eq 2 ] ||
  { cat none2.txt; echo "FAIL: the second attempt appended to metrics.csv"; exit 1; }

run_failing_job "$tessera" train tiny.json --resume=always-or-so
expect_output "train: --resume takes no value or =if-present, got 'always-or-so'"
echo "resume without a checkpoint OK"
