#!/usr/bin/env bash
# A full disk while writing a checkpoint (issue 14, item 5), on a real small tmpfs: a 2-rank run resumes into a
# checkpoint folder with no space left. It must exit non-zero (not 139, not by the timeout) with one message
# naming the checkpoint file and the reason; the previous checkpoint and best.h5 must survive and load, and no
# temporary file may stay on the full disk (before the fix it stayed, and a rank could crash in HDF5's exit
# cleanup). With space again, a stale temporary file (as a killed run leaves) is removed at the next start,
# saying so, and the run completes. Needs root to mount the tmpfs; skipped where mounting is not permitted.
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
echo "disk full OK"
