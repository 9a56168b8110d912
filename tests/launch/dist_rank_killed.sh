#!/usr/bin/env bash
# One rank is SIGKILLed in the middle of a loop of collectives: the job must end non-zero, never hang. Open MPI's
# mpirun notices the dead process and ends the others; the watchdog (TESSERA_COLLECTIVE_TIMEOUT=10 s here) is the
# backstop if it did not. `timeout 120` only guards the test itself.
set -uo pipefail
source "$TESSERA_SOURCE_DIR/tests/launch/lib/failing_job.sh"
export TESSERA_COLLECTIVE_TIMEOUT=10
run_failing_job $MPIRUN -x TESSERA_COLLECTIVE_TIMEOUT -n 2 "$TESSERA_TEST_DRIVERS/dist_kill_rank"
expect_output "sending SIGKILL to myself"
[ "$elapsed" -lt 90 ] || { echo "FAIL: took $elapsed s to end the job"; exit 1; }
echo "OK: job ended with exit $status after $elapsed s"
