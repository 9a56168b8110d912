#!/usr/bin/env bash
# A collective that one rank never joins: the waiting ranks' watchdog (TESSERA_COLLECTIVE_TIMEOUT=3 s) must end the
# job non-zero with a message naming the collective, its bucket and step, the rank and the time waited; long before
# the sleeping rank would wake up (100 s) or `timeout 120` would step in.
set -uo pipefail
start=$SECONDS
TESSERA_COLLECTIVE_TIMEOUT=3 timeout 120 $MPIRUN -x TESSERA_COLLECTIVE_TIMEOUT -n 2 \
  "$TESSERA_TEST_DRIVERS/dist_skip_collective" >out.txt 2>&1
status=$?
elapsed=$((SECONDS - start))
cat out.txt
[ "$status" -ne 0 ] || { echo "FAIL: the job exited 0"; exit 1; }
[ "$status" -ne 124 ] || { echo "FAIL: the job hung until timeout 120"; exit 1; }
for part in "collective timeout on rank 0 of 2" "allreduce(sum) of 4096 x f32" "bucket 3" "step 17" \
            "has not completed after" "TESSERA_COLLECTIVE_TIMEOUT=3.0 s"; do
  grep -qF "$part" out.txt || { echo "FAIL: the watchdog message lacks '$part'"; exit 1; }
done
[ "$elapsed" -lt 90 ] || { echo "FAIL: took $elapsed s: the sleeping rank woke up before the watchdog fired"; exit 1; }
echo "OK: watchdog ended the job (exit $status) after $elapsed s"
