#!/usr/bin/env bash
# A rank stuck before it makes its communicator: the others wait in the setup's MPI_Comm_dup, which the watchdog
# (TESSERA_COLLECTIVE_TIMEOUT=10 s) watches like any collective, so the job ends non-zero naming the setup, long
# before the stuck rank would wake up (100 s) or `timeout 120` would step in. Before, nothing watched the setup.
set -uo pipefail
source "$TESSERA_SOURCE_DIR/tests/launch/lib/failing_job.sh"
export TESSERA_COLLECTIVE_TIMEOUT=10
run_failing_job $MPIRUN -x TESSERA_COLLECTIVE_TIMEOUT -n 2 "$TESSERA_TEST_DRIVERS/dist_setup_stall"
expect_output "collective timeout on rank 0 of 2" "setup(MPI_Comm_dup of MPI_COMM_WORLD)" "has not completed after"
[ "$elapsed" -lt 90 ] || { echo "FAIL: took $elapsed s: the stuck rank woke up before the watchdog fired"; exit 1; }
echo "OK: watchdog ended the job (exit $status) after $elapsed s"
