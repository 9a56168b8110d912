#!/usr/bin/env bash
# One rank stalls inside backward at step 3 (sleeps 100 s in a gradient hook) while the others wait in their bucket
# all-reduces: the watchdog (TESSERA_COLLECTIVE_TIMEOUT=10 s) must end the job with a message naming the bucket and
# the training step, long before the sleeper wakes up.
set -uo pipefail
source "$TESSERA_SOURCE_DIR/tests/launch/lib/failing_job.sh"
# 10 s, not less: every earlier collective has the same limit, and a peer descheduled that long on a loaded machine
# would end the job at the wrong collective.
export TESSERA_COLLECTIVE_TIMEOUT=10
run_failing_job $MPIRUN -x TESSERA_COLLECTIVE_TIMEOUT -n 2 "$TESSERA_TEST_DRIVERS/ddp_failure" --mode rank-stalls
expect_output "collective timeout on rank 0 of 2" "bucket 2" "step 3"
[ "$elapsed" -lt 90 ] || { echo "FAIL: took $elapsed s: the watchdog did not end the job"; exit 1; }
echo "OK: watchdog ended the job (exit $status) after $elapsed s"
