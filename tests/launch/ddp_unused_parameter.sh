#!/usr/bin/env bash
# The last rank's forward skips a layer: its parameters would never get a gradient, so that rank's buckets could
# never be all-reduced. The job must end non-zero with a message naming the parameter, not hang the other ranks.
set -uo pipefail
source "$TESSERA_SOURCE_DIR/tests/launch/lib/failing_job.sh"
run_failing_job $MPIRUN -n 3 "$TESSERA_TEST_DRIVERS/ddp_failure" --mode unused-parameter
expect_output "[rank 2 of 3] error: DistributedDataParallel: parameter 'extra.weight'" "find_unused_parameters"
echo "OK: exit $status after $elapsed s naming the parameter"
