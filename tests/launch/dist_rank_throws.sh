#!/usr/bin/env bash
# One rank throws while the others wait in a collective: every rank must end, the job must exit non-zero, and the
# thrown message must be in the output (logged by the failing rank before MPI_Abort).
set -uo pipefail
start=$SECONDS
timeout 120 $MPIRUN -n 3 "$TESSERA_TEST_DRIVERS/dist_rank_throws" >out.txt 2>&1
status=$?
cat out.txt
[ "$status" -ne 0 ] || { echo "FAIL: the job exited 0"; exit 1; }
[ "$status" -ne 124 ] || { echo "FAIL: the job hung until timeout 120"; exit 1; }
grep -q "\[rank 2 of 3\] error: rank 2 fails on purpose after one allreduce" out.txt ||
  { echo "FAIL: the thrown message is missing"; exit 1; }
echo "OK: exit $status after $((SECONDS - start)) s with the rank's message"
