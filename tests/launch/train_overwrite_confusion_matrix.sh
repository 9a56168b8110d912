#!/usr/bin/env bash
# log_dir's confusion_matrix.csv belongs to its run as metrics.csv does: a fresh run is refused while it is there, and
# --overwrite removes it. It was left behind, so the fresh run's rows followed the old run's (epoch 1 twice).
set -uo pipefail
tessera=$1
source "$TESSERA_SOURCE_DIR/tests/launch/lib/failing_job.sh"
source "$TESSERA_SOURCE_DIR/tests/launch/lib/tiny_job.sh"
make_tiny_job
args=(--set 'metrics=["accuracy", "confusion_matrix"]' --set log_dir=runs/log --progress lines)
"$tessera" train tiny.json "${args[@]}" > first.txt 2>&1 || { cat first.txt; exit 1; }
rm runs/log/metrics.csv runs/ckpt/*.h5  # only the confusion matrix is left
run_failing_job "$tessera" train tiny.json "${args[@]}"
expect_output "log_dir 'runs/log' holds another run's files (confusion_matrix.csv)"
"$tessera" train tiny.json "${args[@]}" --overwrite > again.txt 2>&1 || { cat again.txt; exit 1; }
grep -q "^--overwrite: removed runs/log/confusion_matrix.csv" again.txt || { cat again.txt; exit 1; }
[ "$(grep -c '^1,0,' runs/log/confusion_matrix.csv)" -eq 1 ] || { cat runs/log/confusion_matrix.csv; exit 1; }
echo "confusion_matrix.csv belongs to its run OK"
