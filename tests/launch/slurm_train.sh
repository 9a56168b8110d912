#!/usr/bin/env bash
# launch/slurm/train.sbatch under real SLURM: a private one-node cluster (lib/slurm_cluster.sh) runs the script
# unchanged with `sbatch --wait`, which starts the ranks with `srun --mpi=pmix`.
#   world     dist_world_info in place of tessera: 2 ranks, each took its local rank from SLURM_LOCALID (no mpirun
#             variables set) and is bound to one CPU of its own
#   train     tessera train, 1 epoch of a small MLP on tiny synthetic shards: exit 0, 2 ranks, metrics.csv and the
#             checkpoint (world size 2) written, the log named by the script's #SBATCH lines
#   threads   one rank with --cpus-per-task=2: bound to 2 CPUs with 2 threads (srun is told the job's CPUs per task)
#   throws    one rank throws after an allreduce: the job ends non-zero, quickly, with the rank's message
#   killed    one rank is SIGKILLed mid-allreduce: SLURM's PMIx server ends the step (no MPI_Abort to do it)
#   bad config  `--set epochs=ten`: non-zero, the config error in the log
# Every sbatch runs under `timeout 60`; the EXIT trap cancels what is left and stops the cluster. Runs as root only
# (slurmd starts jobs as their user); elsewhere it skips.
set -euo pipefail
tessera=$1
[ "$(id -u)" -eq 0 ] || { echo "not root: slurmd cannot start jobs; skipping"; exit 77; }
source "$TESSERA_SOURCE_DIR/tests/launch/lib/slurm_cluster.sh"
source "$TESSERA_SOURCE_DIR/tests/launch/lib/failing_job.sh"  # expect_output, on $job_output (the job's log)
sbatch_script=$TESSERA_SOURCE_DIR/launch/slurm/train.sbatch
# ctest's thread settings would hide what the job script sets from SLURM's CPUs per task.
unset TESSERA_NUM_THREADS OMP_NUM_THREADS OPENBLAS_NUM_THREADS
export TESSERA_COLLECTIVE_TIMEOUT=20  # backstop for a stuck collective, well inside `timeout 60`
test_start=$SECONDS
start_slurm_cluster 2

"$TESSERA_PYTHON" - <<'PY'
import os
import h5py, numpy as np
rng = np.random.default_rng(0)
os.makedirs("data", exist_ok=True)
for split, rows in [("train", 512), ("test", 128)]:
    for shard in range(2):
        with h5py.File(f"data/{split}-{shard}.h5", "w") as f:
            f["x"] = rng.integers(0, 256, (rows, 1, 28, 28), dtype=np.uint8)
            f["y"] = rng.integers(0, 10, rows, dtype=np.int64)
PY
# 1 epoch = 8 steps (1024 rows, 2 ranks x batch 64) of a narrower MLP.
config=("$TESSERA_SOURCE_DIR/configs/fashion_mnist_mlp.json" --set epochs=1 --set schedule.warmup_steps=2
        --set 'data.train=["data/train-*.h5"]' --set 'data.test=["data/test-*.h5"]'
        --set model.layers.1.out_features=32 --set model.layers.4.out_features=16
        --set log_dir=runs/mlp --set checkpoint.dir=runs/mlp/ckpt --progress lines)

# submit NAME BINARY [sbatch options...] -- [train.sbatch arguments...]: runs train.sbatch with TESSERA_BIN=BINARY
# and waits; sets $job_name, $status, $elapsed and $job_output (the job's log, named by the script:
# tessera-train-JOBID.out), and prints the log. A job still running after 60 s fails the test.
submit() {
  job_name=$1
  local binary=$2 options=()
  shift 2
  while [ "$1" != -- ]; do options+=("$1"); shift; done
  shift
  local start=$SECONDS
  status=0
  TESSERA_BIN=$binary timeout 60 sbatch --wait --parsable "${options[@]}" "$sbatch_script" "$@" >"$job_name.id" || status=$?
  elapsed=$((SECONDS - start))
  job_output=tessera-train-$(cut -d';' -f1 "$job_name.id").out
  echo "=== $job_name: exit $status after $elapsed s, log $job_output"
  cat "$job_output" || true
  [ "$status" -ne 124 ] || { echo "FAIL: $job_name: job still running after 60 s"; exit 1; }
}
expect_failed() {
  [ "$status" -ne 0 ] || { echo "FAIL: $job_name: the job exited 0"; exit 1; }
  [ "$elapsed" -lt 30 ] || { echo "FAIL: $job_name: took $elapsed s to end"; exit 1; }
}
bound_cpus() { [ "$slurm_cluster_task_plugin" = task/affinity ] && echo "affinity $1 cpus" || echo "affinity"; }

submit world "$TESSERA_TEST_DRIVERS/dist_world_info" -n 2 -- "${config[@]}"
[ "$status" -eq 0 ] || { echo "FAIL: world: exit $status"; exit 1; }
[ "$(grep -c '^world_info:' "$job_output")" -eq 2 ] || { echo "FAIL: world: expected 2 ranks"; exit 1; }
expect_output "tessera-train: 2 ranks on 1 node(s), 1 thread(s) each"
for rank in 0 1; do
  expect_output "rank $rank of 2, local rank $rank of 2, cpu threads 1, $(bound_cpus 1)" \
    "environment $rank of 2 | node $rank of 2 | OMPI_COMM_WORLD_LOCAL_RANK=unset MPI_LOCALRANKID=unset" \
    "SLURM_LOCALID=$rank SLURM_STEP_TASKS_PER_NODE=2"
done

submit train "$tessera" -n 2 -- "${config[@]}"
[ "$status" -eq 0 ] || { echo "FAIL: train: exit $status"; exit 1; }
expect_output "tessera-train: 2 ranks on 1 node(s), 1 thread(s) each" "ranks 2, batch 64 per rank, 8 steps per epoch" \
  "test:"
"$TESSERA_PYTHON" - <<'PY'
import csv
import h5py
rows = list(csv.DictReader(open("runs/mlp/metrics.csv")))
assert [(r["epoch"], r["step"]) for r in rows] == [("1", "8")], rows
with h5py.File("runs/mlp/ckpt/ckpt-000000008.h5", "r") as f:
    assert f.attrs["step"] == 8 and f.attrs["world_size"] == 2, dict(f.attrs)
print("metrics.csv (1 epoch, 8 steps) and ckpt-000000008.h5 (world size 2) OK")
PY

submit threads "$TESSERA_TEST_DRIVERS/dist_world_info" -n 1 --ntasks-per-node=1 --cpus-per-task=2 -- "${config[@]}"
[ "$status" -eq 0 ] || { echo "FAIL: threads: exit $status"; exit 1; }
expect_output "rank 0 of 1, local rank 0 of 1, cpu threads 2, $(bound_cpus 2)"

submit throws "$TESSERA_TEST_DRIVERS/dist_rank_throws" -n 2 -- "${config[@]}"
expect_failed
expect_output "[rank 1 of 2] error: rank 1 fails on purpose after one allreduce"

submit killed "$TESSERA_TEST_DRIVERS/dist_kill_rank" -n 2 -- "${config[@]}"
expect_failed
expect_output "dist_kill_rank: sending SIGKILL to myself" "task 1: Killed"

submit bad_config "$tessera" -n 2 -- "${config[@]}" --set epochs=ten
expect_failed
expect_output 'config: epochs: expected an integer, got "ten"'

echo "SLURM launch OK ($slurm_cluster_task_plugin) in $((SECONDS - test_start)) s"
