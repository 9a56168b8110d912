#!/usr/bin/env bash
# One rank is SIGKILLed inside backward, mid-training, after some of its buckets' all-reduces started: the job must
# end non-zero well within the timeout. mpirun notices the dead process and ends the others; the watchdog
# (TESSERA_COLLECTIVE_TIMEOUT, 10 s here) is the backstop.
set -uo pipefail
source "$TESSERA_SOURCE_DIR/tests/launch/lib/failing_job.sh"
export TESSERA_COLLECTIVE_TIMEOUT=10
run_failing_job $MPIRUN -x TESSERA_COLLECTIVE_TIMEOUT -n 2 "$TESSERA_TEST_DRIVERS/ddp_failure" --mode rank-killed
expect_output "rank 1 kills itself inside backward at step 3" "exited on signal 9"
[ "$elapsed" -lt 90 ] || { echo "FAIL: took $elapsed s to end the job"; exit 1; }
echo "OK: exit $status after $elapsed s"
