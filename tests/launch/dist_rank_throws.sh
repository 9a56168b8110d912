#!/usr/bin/env bash
# One rank throws while the others wait in a collective: every rank must end, the job must exit non-zero, and the
# thrown message must be in the output (logged by the failing rank before MPI_Abort).
set -uo pipefail
source "$TESSERA_SOURCE_DIR/tests/launch/lib/failing_job.sh"
run_failing_job $MPIRUN -n 3 "$TESSERA_TEST_DRIVERS/dist_rank_throws"
expect_output "[rank 2 of 3] error: rank 2 fails on purpose after one allreduce"
echo "OK: exit $status after $elapsed s with the rank's message"
