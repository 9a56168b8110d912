#!/usr/bin/env bash
# log_dir on a full disk: confusion_matrix.csv's rows are written through an ofstream that was only checked before
# its close, so the rows lost to a full disk went unreported and the job exited 0 (an empty confusion_matrix.csv).
# A run resumed into a log_dir on a 2 MiB tmpfs with two pages left (the lock file's text and the new TensorBoard
# file take them; metrics.csv appends inside its page) must end non-zero naming confusion_matrix.csv and the reason.
# Needs root to mount the tmpfs; skipped where mounting is not permitted.
set -uo pipefail
tessera=$1
source "$TESSERA_SOURCE_DIR/tests/launch/lib/failing_job.sh"
source "$TESSERA_SOURCE_DIR/tests/launch/lib/tiny_job.sh"
source "$TESSERA_SOURCE_DIR/tests/launch/lib/small_disk.sh"
make_tiny_job
if ! mount_small_disk disk 2m; then
  echo "skipping: cannot mount a tmpfs here ($small_disk_error); this test needs root (CAP_SYS_ADMIN)"
  exit 0
fi
job=(train tiny.json --set checkpoint.dir=runs/ckpt --set log_dir=disk/logs --set 'metrics=["accuracy","confusion_matrix"]'
     --progress lines)
$MPIRUN -n 2 "$tessera" "${job[@]}" > first.txt 2>&1 || { cat first.txt; exit 1; }
rm disk/logs/confusion_matrix.csv  # written afresh by the resumed run: it needs a page of its own
dd if=/dev/zero of=disk/spare bs=4096 count=2 status=none
fill_disk disk
rm disk/spare
run_failing_job $MPIRUN -n 2 "$tessera" "${job[@]}" --set epochs=2 --resume
expect_output "ConfusionMatrixLogger: cannot write disk/logs/confusion_matrix.csv: No space left on device"
echo "log_dir disk full OK"
