#!/usr/bin/env bash
# One run per folder (issue 14, item 3). A fresh run (no --resume) into a checkpoint.dir and log_dir that hold
# another run's checkpoints, best.h5 and metrics.csv must refuse to start, naming the folders, and change nothing
# (before the fix it overwrote best.h5, appended to metrics.csv and pruned its own new checkpoint at once).
# --overwrite removes exactly those files, saying so, and starts afresh under a new run id; a resumed run keeps
# the run id of its checkpoint and prunes only that run's files.
set -uo pipefail
tessera=$1
source "$TESSERA_SOURCE_DIR/tests/launch/lib/failing_job.sh"
source "$TESSERA_SOURCE_DIR/tests/launch/lib/tiny_job.sh"
make_tiny_job
folders=(--set log_dir=runs/log --set checkpoint.keep=2 --progress lines)
"$tessera" train tiny.json "${folders[@]}" --set epochs=3 > first.txt 2>&1 || { cat first.txt; exit 1; }
before=$(cd runs && find . -type f ! -name 'events.*' | sort | xargs md5sum)

run_failing_job "$tessera" train tiny.json "${folders[@]}"
expect_output "checkpoint.dir 'runs/ckpt' holds another run's files (ckpt-000000064.h5, ckpt-000000096.h5, best.h5)" \
  "log_dir 'runs/log' holds another run's files (metrics.csv)" "give --resume to continue that run" "--overwrite"
! grep -q "^Epoch" out.txt || { echo "FAIL: the refused run trained"; exit 1; }
after=$(cd runs && find . -type f ! -name 'events.*' | sort | xargs md5sum)
[ "$before" = "$after" ] || { diff <(echo "$before") <(echo "$after"); echo "FAIL: the refused run changed files"; exit 1; }

# The run id: the same in every file of the first run, kept by --resume (which prunes only its own older files).
run_ids() { "$TESSERA_PYTHON" -c 'import sys, json, h5py
print(" ".join(json.loads(h5py.File(p, "r").attrs["meta"]).get("run_id", "-") for p in sys.argv[1:]))' "$@"; }
"$tessera" train tiny.json "${folders[@]}" --set epochs=4 --resume > resumed.txt 2>&1 || { cat resumed.txt; exit 1; }
ls runs/ckpt
[ "$(ls runs/ckpt | tr '\n' ' ')" = "best.h5 ckpt-000000096.h5 ckpt-000000128.h5 " ] || { echo "FAIL: pruning"; exit 1; }
read -r id96 id128 <<<"$(run_ids runs/ckpt/ckpt-000000096.h5 runs/ckpt/ckpt-000000128.h5)"
echo "run ids: $id96 $id128"
[ "$id96" != - ] && [ "$id96" = "$id128" ] || { echo "FAIL: the resumed run has another run id"; exit 1; }

# --overwrite: the old files go (each named), a new run id, a fresh metrics.csv.
"$tessera" train tiny.json "${folders[@]}" --overwrite > overwrite.txt 2>&1 || { cat overwrite.txt; exit 1; }
for file in runs/ckpt/ckpt-000000096.h5 runs/ckpt/ckpt-000000128.h5 runs/ckpt/best.h5 runs/log/metrics.csv; do
  grep -qF -- "--overwrite: removed $file" overwrite.txt || { cat overwrite.txt; echo "FAIL: $file not reported"; exit 1; }
done
[ "$(ls runs/ckpt | tr '\n' ' ')" = "best.h5 ckpt-000000032.h5 " ] || { ls runs/ckpt; echo "FAIL: old files left"; exit 1; }
[ "$(wc -l < runs/log/metrics.csv)" -eq 2 ] || { cat runs/log/metrics.csv; echo "FAIL: metrics.csv was appended to"; exit 1; }
[ "$(run_ids runs/ckpt/ckpt-000000032.h5)" != "$id96" ] || { echo "FAIL: --overwrite kept the old run id"; exit 1; }

run_failing_job "$tessera" train tiny.json "${folders[@]}" --overwrite --resume
expect_output "--overwrite starts a fresh run; it cannot go with --resume"
run_failing_job "$tessera" train tiny.json "${folders[@]}" --resume --resume-from runs/ckpt/best.h5
expect_output "give --resume or --resume-from, not both"
echo "one run per folder OK"
