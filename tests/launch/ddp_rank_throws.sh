#!/usr/bin/env bash
# One rank throws in the middle of training while the others go on into backward and wait in their bucket
# all-reduces: every rank must end, non-zero, with the thrown message in the output.
set -uo pipefail
source "$TESSERA_SOURCE_DIR/tests/launch/lib/failing_job.sh"
run_failing_job $MPIRUN -n 2 "$TESSERA_TEST_DRIVERS/ddp_failure" --mode rank-throws
expect_output "[rank 1 of 2] error: rank 1 fails on purpose at step 3"
echo "OK: exit $status after $elapsed s with the rank's message"
