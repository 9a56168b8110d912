#!/usr/bin/env bash
# One rank is SIGKILLed in the middle of a loop of collectives: the job must end non-zero, never hang. Open MPI's
# mpirun notices the dead process and ends the others; the watchdog (TESSERA_COLLECTIVE_TIMEOUT=10 s here) is the
# backstop if it did not. `timeout 120` only guards the test itself.
set -uo pipefail
start=$SECONDS
TESSERA_COLLECTIVE_TIMEOUT=10 timeout 120 $MPIRUN -x TESSERA_COLLECTIVE_TIMEOUT -n 2 \
  "$TESSERA_TEST_DRIVERS/dist_kill_rank" >out.txt 2>&1
status=$?
elapsed=$((SECONDS - start))
cat out.txt
[ "$status" -ne 0 ] || { echo "FAIL: the job exited 0"; exit 1; }
[ "$status" -ne 124 ] || { echo "FAIL: the job hung until timeout 120"; exit 1; }
grep -q "sending SIGKILL to myself" out.txt || { echo "FAIL: the rank was not killed by the driver"; exit 1; }
[ "$elapsed" -lt 90 ] || { echo "FAIL: took $elapsed s to end the job"; exit 1; }
echo "OK: job ended with exit $status after $elapsed s"
