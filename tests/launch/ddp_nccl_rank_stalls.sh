#!/usr/bin/env bash
# ddp_rank_stalls.sh over the nccl backend: one rank stalls inside backward at step 3 (sleeps 100 s in a gradient
# hook) while the other's last bucket all-reduce waits on its NCCL stream. The nccl backend's watchdog, which polls
# that collective's event, must end the job (TESSERA_COLLECTIVE_TIMEOUT=10 s) with a message naming the backend, the
# bucket and the step, long before the sleeper wakes up. Runs distributed/nccl's own code over the CUDA backend
# compiled for the CPU (tests/support/nccl_on_cpu), where a collective waits for its peers without blocking the
# watchdog's polls, as on a GPU; skipped (77) in a build without it.
set -uo pipefail
source "$TESSERA_SOURCE_DIR/tests/launch/lib/failing_job.sh"
export TESSERA_TEST_DEVICE=test TESSERA_TEST_DEVICE_BACKEND=cuda_on_cpu TESSERA_TEST_COMMUNICATOR=nccl_on_cpu
export TESSERA_COLLECTIVE_TIMEOUT=10  # 10 s, not less: see ddp_rank_stalls.sh
built=0
"$TESSERA_TEST_DRIVERS/ddp_failure" --mode nccl-on-cpu-built || built=$?
[ "$built" -ne 77 ] || { echo "SKIP: this build has no CPU build of the CUDA backend"; exit 77; }
[ "$built" -eq 0 ] || { echo "FAIL: ddp_failure --mode nccl-on-cpu-built exited $built"; exit 1; }
run_failing_job $MPIRUN -n 2 "$TESSERA_TEST_DRIVERS/ddp_failure" --mode nccl-rank-stalls
expect_output "collective timeout on rank 0 of 2 (nccl backend)" "bucket 2" "step 3"
[ "$elapsed" -lt 90 ] || { echo "FAIL: took $elapsed s: the watchdog did not end the job"; exit 1; }
echo "OK: the nccl backend's watchdog ended the job (exit $status) after $elapsed s"
