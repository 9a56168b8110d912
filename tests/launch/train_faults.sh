#!/usr/bin/env bash
# Runs that never lose work (issue 14): one 2-rank run, in one checkpoint folder, goes through every fault in
# turn and is resumed after each; at the end its newest checkpoint and best.h5 must be bitwise those of an
# uninterrupted run of the same config. Bitwise, no tolerance: at the same world size a resume restores weights,
# AdamW moments, step, sampler position and RNG exactly, and the CPU kernels and the 2-rank all-reduce are
# deterministic, so each retrained epoch repeats the uninterrupted run's arithmetic (train_resume.sh relies on it too).
#   (a) divergence (--set optimizer.lr=1e6 on a resume): exit 1 naming the step and the loss; the folder unchanged
#       (no NaN checkpoint or best.h5 written, nothing pruned).
#   (b) a flipped bit in the newest checkpoint: --resume says so, falls back to the previous one, keeps the bad file
#       as .corrupt and retrains the lost epoch.
#   (c) a full disk (a 2 MiB tmpfs; skipped, saying so, where mounting is not permitted): exit 1 naming the file and
#       the reason, no crash, the folder unchanged (no temporary file left).
#   (d) rank 0 SIGKILLed between the complete temporary file and its rename (TESSERA_FAULT_KILL_AT_CHECKPOINT):
#       the newest checkpoint stays, nothing under the real name; the next start removes the temporary file.
#       (best.h5 is written before the numbered file, so here it already holds the epoch the resume retrains.)
# A small learning rate makes val_accuracy improve every epoch, so best.h5 is rewritten each time and a lost or
# stale best.h5 shows. 6 epochs of 16 steps (2 ranks x 32), checkpoint.keep=2; every mpirun under `timeout`.
set -uo pipefail
tessera=$1
source "$TESSERA_SOURCE_DIR/tests/launch/lib/failing_job.sh"
source "$TESSERA_SOURCE_DIR/tests/launch/lib/tiny_job.sh"
source "$TESSERA_SOURCE_DIR/tests/launch/lib/small_disk.sh"
make_tiny_job

disk_full=1
if mount_small_disk disk 2m; then
  dir=disk/ckpt
else
  disk_full=0 dir=runs/faulted
  echo "the disk-full fault (c) will be skipped: cannot mount a tmpfs here ($small_disk_error); it needs root"
fi
config=(tiny.json --set optimizer.lr=0.0003 --set checkpoint.keep=2 --progress lines)
train() {  # train LOG EPOCHS [args...]: a 2-rank run into $dir that must succeed
  local log=$1 epochs=$2
  shift 2
  local status=0
  timeout 120 $MPIRUN -n 2 "$tessera" train "${config[@]}" --set checkpoint.dir="$dir" --set epochs="$epochs" "$@" \
    >"$log" 2>&1 || status=$?
  [ "$status" -eq 0 ] || { cat "$log"; echo "FAIL: $log: exit $status"; exit 1; }
  grep -E "^(not resuming|removed|resumed)" "$log"
}
faulty() {  # faulty LOG EPOCHS [args...]: a 2-rank --resume into $dir that must fail, exiting on its own
  local log=$1 epochs=$2
  shift 2
  run_failing_job $MPIRUN -n 2 "$tessera" train "${config[@]}" --set checkpoint.dir="$dir" --set epochs="$epochs" \
    --resume "$@"
  cp out.txt "$log"
  [ "$status" -ne 139 ] && ! grep -qi "segmentation\|signal 11\|HDF5-DIAG" out.txt || { echo "FAIL: a crash"; exit 1; }
}
listing() { (cd "$dir" && ls | sort | xargs md5sum); }
unchanged() {  # unchanged WHAT: the folder is as $before says
  [ "$(listing)" = "$before" ] || { diff <(echo "$before") <(listing); echo "FAIL: $1 changed the folder"; exit 1; }
}
ckpt() { printf '%s/ckpt-%09d.h5' "$dir" "$1"; }  # the checkpoint of step $1

timeout 120 $MPIRUN -n 2 "$tessera" train "${config[@]}" --set checkpoint.dir=runs/straight --set epochs=6 \
  >straight.txt 2>&1 || { cat straight.txt; echo "FAIL: the uninterrupted run"; exit 1; }
grep "^Epoch" straight.txt
train fresh.txt 2

echo "### (a) divergence"
before=$(listing)
faulty fault_a.txt 3 --set optimizer.lr=1e6
grep -Eq "training diverged at step (3[3-9]|4[0-8]) \(epoch 3\): the batch loss is -?(nan|inf)" out.txt ||
  { echo "FAIL: the message lacks the step or the loss"; exit 1; }
! grep -q "^test:" out.txt || { echo "FAIL: the diverged model was evaluated"; exit 1; }
unchanged "the diverged run"
check_finite "$dir"/*.h5
train resumed_a.txt 3 --resume

echo "### (b) a flipped bit in the newest checkpoint"
flip_bit "$(ckpt 48)"
train resumed_b.txt 4 --resume
grep -q "not resuming from $(ckpt 48): .*tensor model/0.weight fails its CRC32C check.*falling back" resumed_b.txt &&
  grep -q "resumed from $(ckpt 32) at step 32, epoch 3" resumed_b.txt || { echo "FAIL: no fallback"; exit 1; }
[ -f "$(ckpt 48).corrupt" ] || { ls "$dir"; echo "FAIL: the corrupt file was not kept"; exit 1; }

if [ "$disk_full" = 1 ]; then
  echo "### (c) a full disk"
  fill_disk disk
  before=$(listing)
  faulty fault_c.txt 5
  grep -Eq "cannot write checkpoint '$dir/(best.h5|ckpt-000000080.h5)': No space left on device" out.txt ||
    { echo "FAIL: the message lacks the file or the reason"; exit 1; }
  unchanged "the run on a full disk"
  rm disk/filler
else
  echo "### (c) a full disk: SKIPPED (no tmpfs)"
fi
train resumed_c.txt 5 --resume

echo "### (d) rank 0 killed while writing a checkpoint"
TESSERA_FAULT_KILL_AT_CHECKPOINT=96 faulty fault_d.txt 6  # one node: mpirun passes the environment to the ranks
ls "$dir"
[ ! -e "$(ckpt 96)" ] && [ -f "$(ckpt 80)" ] || { echo "FAIL: a half-written checkpoint or a lost one"; exit 1; }
temporary=$(cd "$dir" && ls | grep '^ckpt-000000096.h5.tmp-') || { echo "FAIL: the kill came elsewhere"; exit 1; }
train resumed_d.txt 6 --resume
grep -q "removed $dir/$temporary: a temporary checkpoint file left by a run that was killed" resumed_d.txt &&
  grep -q "resumed from $(ckpt 80) at step 80, epoch 6" resumed_d.txt || { echo "FAIL: no clean resume"; exit 1; }

echo "### the end: as if nothing had happened"
[ "$(cd "$dir" && ls | tr '\n' ' ')" = "best.h5 ckpt-000000048.h5.corrupt ckpt-000000080.h5 ckpt-000000096.h5 " ] ||
  { ls "$dir"; echo "FAIL: unexpected files"; exit 1; }
same_tensors "$(ckpt 96)" runs/straight/ckpt-000000096.h5
same_tensors "$dir/best.h5" runs/straight/best.h5
for file in "$(ckpt 96)" "$dir/best.h5"; do  # Tessera's own loader verifies every CRC32C
  timeout 60 "$tessera" evaluate tiny.json --checkpoint "$file" | grep "^test:" || { echo "FAIL: $file"; exit 1; }
done
echo "faults OK$([ "$disk_full" = 1 ] || echo " (without the disk-full fault)")"
