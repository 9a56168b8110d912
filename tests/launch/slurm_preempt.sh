#!/usr/bin/env bash
# Preemption under real SLURM (issue 15): launch/slurm/train.sbatch, unchanged, on a private one-node cluster
# (lib/slurm_cluster.sh). A 2-rank job is preempted twice while it trains, requeues itself each time, resumes, and
# ends with the last checkpoint, best.h5 and metrics.csv rows of an uninterrupted job of the same config (bitwise;
# lib/preempt_job.sh, lib/tiny_job.sh).
#   1. `scancel --batch -s USR1` after step 21 (epoch 2): the script alone gets SIGUSR1, as from
#      --signal=B:USR1@120, and hands it to srun, which passes it to both ranks
#   2. `scancel -s USR1` after step 40 (epoch 3, past the end of the epoch the job resumed in): the ranks get it
#      directly
# The ranks wait for the signal after those steps (TESSERA_FAULT_HOLD_AT_STEP=21,40, in the job's environment):
# through slurmctld and slurmd a signal takes ~1.5 s, 50 of these epochs here, and on a 2-core CI machine the whole
# job had ended before the first one arrived.
# Each time: one "preempted by SIGUSR1 after step S ... exit 75" line, a checkpoint inside the epoch, "requeueing",
# and the restart resuming from that checkpoint. At the end SLURM reports Restarts=2 and exit code 0:0. SLURM holds
# a requeued job for AuthInfo's cred_expire + 1 s (121 s); the test releases it at once (scontrol update
# StartTime=now). Every wait is bounded (180 s); the EXIT trap stops the cluster. Runs as root only; elsewhere
# skips.
set -euo pipefail
tessera=$1
[ "$(id -u)" -eq 0 ] || { echo "not root: slurmd cannot start jobs; skipping"; exit 77; }
source "$TESSERA_SOURCE_DIR/tests/launch/lib/slurm_cluster.sh"
source "$TESSERA_SOURCE_DIR/tests/launch/lib/tiny_job.sh"
source "$TESSERA_SOURCE_DIR/tests/launch/lib/preempt_job.sh"
sbatch_script=$TESSERA_SOURCE_DIR/launch/slurm/train.sbatch
unset TESSERA_NUM_THREADS OMP_NUM_THREADS OPENBLAS_NUM_THREADS  # the job script sets them from SLURM's CPUs
export TESSERA_COLLECTIVE_TIMEOUT=20 TESSERA_BIN=$tessera
test_start=$SECONDS
start_slurm_cluster 2
make_tiny_job
config=(tiny.json --set optimizer.lr=0.0003 --set epochs=150 --progress lines)  # ~5 s a job
folders() { echo --set log_dir=runs/$1 --set checkpoint.dir=runs/$1/ckpt; }
job_field() { scontrol show job "$1" | grep -o "$2=[^ ]*" | cut -d= -f2; }

timeout 180 sbatch --wait --parsable -n 2 "$sbatch_script" "${config[@]}" $(folders straight) >straight.id \
  || { cat tessera-train-*.out; echo "FAIL: the uninterrupted job"; exit 1; }
echo "uninterrupted job: $(grep -c '^Epoch' "tessera-train-$(cat straight.id).out") epochs"

id=$(TESSERA_FAULT_HOLD_AT_STEP=21,40 sbatch --parsable -n 2 "$sbatch_script" "${config[@]}" $(folders preempted))
log=tessera-train-$id.out
# preempt N STEP SCANCEL_OPTIONS...: once the ranks hold after STEP (N-1 restarts in), sends SIGUSR1 as
# SCANCEL_OPTIONS say, checks the stop there, waits for the requeue and releases the job.
preempt() {
  local n=$1 step=$2 deadline=$((SECONDS + 180)) run
  shift 2
  wait_for_text "$log" "rank 1 holds after step $step for a signal" 180
  scancel "$@" -s USR1 "$id"
  until [ "$(job_field "$id" Restarts)" = "$n" ] && [ "$(job_field "$id" JobState)" = PENDING ]; do
    [ "$SECONDS" -lt "$deadline" ] || { cat "$log"; echo "FAIL: preemption $n: job $id not requeued"; exit 1; }
    sleep 0.2
  done
  scontrol update JobId="$id" StartTime=now
  # This run's part of the log: from its start (restart n-1 or the first start) to here.
  run=$(awk -v n=$((n - 1)) '/^tessera-train: restart [0-9]+ of job/ { seen++ } seen == n' "$log")
  [ "$n" -gt 1 ] || run=$(awk '/^tessera-train: restart 1 of job/ { exit } { print }' "$log")
  echo "$run" >"run$n.txt"
  check_preempted "run$n.txt" runs/preempted/ckpt
  [ "$preempted_step" -eq "$step" ] || { echo "FAIL: preemption $n: stopped after step $preempted_step"; exit 1; }
  # Rank 0 names its own SIGUSR1, or, when its copy came after the ranks' vote, rank 1's.
  [[ "$preempted_cause" =~ ^(SIGUSR1|a\ signal\ on\ 1\ other\ rank\(s\))$ ]] \
    || { echo "FAIL: preemption $n: caused by $preempted_cause"; exit 1; }
  grep -F "tessera-train: preempted: requeueing job $id (restart $n)" "run$n.txt"
  eval "step$n=$preempted_step"
}
preempt 1 21 --batch
grep -F "tessera-train: SIGUSR1: the ranks checkpoint and stop" run1.txt
preempt 2 40
deadline=$((SECONDS + 180))
until [ "$(job_field "$id" JobState)" = COMPLETED ]; do
  case $(job_field "$id" JobState) in FAILED | CANCELLED | TIMEOUT) cat "$log"; echo "FAIL: job $id ended $(job_field "$id" JobState)"; exit 1 ;; esac
  [ "$SECONDS" -lt "$deadline" ] || { cat "$log"; echo "FAIL: job $id not done after 180 s"; exit 1; }
  sleep 0.2
done
cat "$log"
[ "$(job_field "$id" Restarts)" = 2 ] && [ "$(job_field "$id" ExitCode)" = 0:0 ] \
  || { scontrol show job "$id"; echo "FAIL: expected Restarts=2 and ExitCode=0:0"; exit 1; }
for n in 1 2; do
  eval "step=\$step$n"
  grep -F "resumed from runs/preempted/ckpt/ckpt-$(printf %09d "$step").h5 at step $step" "$log" \
    || { echo "FAIL: restart $n did not resume from step $step"; exit 1; }
done
same_tensors runs/straight/ckpt/ckpt-000002400.h5 runs/preempted/ckpt/ckpt-000002400.h5
same_tensors runs/straight/ckpt/best.h5 runs/preempted/ckpt/best.h5
same_metrics runs/straight/metrics.csv runs/preempted/metrics.csv
echo "SLURM preemption OK: preempted at steps $step1 and $step2, requeued twice, in $((SECONDS - test_start)) s"
