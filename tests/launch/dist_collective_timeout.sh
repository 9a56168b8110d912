#!/usr/bin/env bash
# A collective that one rank never joins: the waiting ranks' watchdog (TESSERA_COLLECTIVE_TIMEOUT=10 s) must end the
# job non-zero with a message naming the collective, its bucket and step, the rank and the time waited; long before
# the sleeping rank would wake up (100 s) or `timeout 120` would step in.
set -uo pipefail
source "$TESSERA_SOURCE_DIR/tests/launch/lib/failing_job.sh"
# 10 s, not less: every earlier collective has the same limit, and a peer descheduled that long on a loaded machine
# would end the job at the wrong collective.
export TESSERA_COLLECTIVE_TIMEOUT=10
run_failing_job $MPIRUN -x TESSERA_COLLECTIVE_TIMEOUT -n 2 "$TESSERA_TEST_DRIVERS/dist_skip_collective"
expect_output "collective timeout on rank 0 of 2" "allreduce(sum) of 4096 x f32" "bucket 3" "step 17" \
              "has not completed after" "TESSERA_COLLECTIVE_TIMEOUT=10.0 s"
[ "$elapsed" -lt 90 ] || { echo "FAIL: took $elapsed s: the sleeping rank woke up before the watchdog fired"; exit 1; }
echo "OK: watchdog ended the job (exit $status) after $elapsed s"
