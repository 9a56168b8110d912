#!/usr/bin/env bash
# A full disk while writing a checkpoint (issue 14, item 5), on a real small tmpfs: a 2-rank run resumes into a
# checkpoint folder with no space left. It must exit non-zero (not 139, not by the timeout) with one message
# naming the checkpoint file and the reason; the previous checkpoint and best.h5 must survive and load, and no
# temporary file may stay on the full disk (before the fix it stayed, and a rank could crash in HDF5's exit
# cleanup). With space again, a stale temporary file (as a killed run leaves) is removed at the next start,
# saying so, and the run completes. Then log_dir on the full disk (below). Needs root to mount the tmpfs; skipped
# where mounting is not permitted.
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
job=(train tiny.json --set checkpoint.dir=disk/ckpt --progress lines)
$MPIRUN -n 2 "$tessera" "${job[@]}" > first.txt 2>&1 || { cat first.txt; exit 1; }
ls disk/ckpt
fill_disk disk

run_failing_job $MPIRUN -n 2 "$tessera" "${job[@]}" --set epochs=2 --resume
[ "$status" -ne 139 ] || { echo "FAIL: a rank crashed (exit 139)"; exit 1; }
expect_output "cannot write checkpoint 'disk/ckpt/ckpt-000000032.h5': No space left on device"
! grep -qi "segmentation\|signal 11\|HDF5-DIAG" out.txt || { echo "FAIL: a crash or HDF5 diagnostics at exit"; exit 1; }
[ "$(ls disk/ckpt | tr '\n' ' ')" = "best.h5 ckpt-000000016.h5 " ] || { ls -la disk/ckpt; echo "FAIL: temporary file left"; exit 1; }
for file in disk/ckpt/ckpt-000000016.h5 disk/ckpt/best.h5; do
  "$tessera" evaluate tiny.json --checkpoint "$file" | grep "^test:" || { echo "FAIL: $file does not load"; exit 1; }
done

rm disk/filler
cp disk/ckpt/ckpt-000000016.h5 disk/ckpt/ckpt-000000032.h5.tmp-4242  # as a run killed mid-write leaves it
$MPIRUN -n 2 "$tessera" "${job[@]}" --set epochs=2 --resume > resumed.txt 2>&1 || { cat resumed.txt; exit 1; }
grep -F "removed disk/ckpt/ckpt-000000032.h5.tmp-4242: a temporary checkpoint file left by a run that was killed" \
  resumed.txt || { cat resumed.txt; echo "FAIL: the stale temporary file was not reported"; exit 1; }
[ "$(ls disk/ckpt | tr '\n' ' ')" = "best.h5 ckpt-000000016.h5 ckpt-000000032.h5 " ] || { ls disk/ckpt; exit 1; }

# log_dir on the full disk: confusion_matrix.csv's rows went through an ofstream checked before its close only, so
# rows lost to a full disk went unreported and the job exited 0 (an empty confusion_matrix.csv). A run resumed into a
# log_dir with two pages left (the lock file's text and the new TensorBoard file take them; metrics.csv appends
# inside its page) must end non-zero naming confusion_matrix.csv and the reason.
logs=(train tiny.json --set checkpoint.dir=runs/ckpt --set log_dir=disk/logs
      --set 'metrics=["accuracy","confusion_matrix"]' --progress lines)
$MPIRUN -n 2 "$tessera" "${logs[@]}" > logs-first.txt 2>&1 || { cat logs-first.txt; exit 1; }
rm disk/logs/confusion_matrix.csv  # written afresh by the resumed run: it needs a page of its own
dd if=/dev/zero of=disk/spare bs=4096 count=2 status=none
fill_disk disk
rm disk/spare
run_failing_job $MPIRUN -n 2 "$tessera" "${logs[@]}" --set epochs=2 --resume
expect_output "ConfusionMatrixLogger: cannot write disk/logs/confusion_matrix.csv: No space left on device"
echo "disk full OK"
