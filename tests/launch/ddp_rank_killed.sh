#!/usr/bin/env bash
# One rank is SIGKILLed inside backward, mid-training, after some of its buckets' all-reduces started: the job must
# end non-zero well within the timeout. mpirun notices the dead process and ends the others; the watchdog
# (TESSERA_COLLECTIVE_TIMEOUT, 10 s here) is the backstop, naming the bucket and step it waited for.
set -uo pipefail
source "$TESSERA_SOURCE_DIR/tests/launch/lib/expect_job_failure.bash"
export TESSERA_COLLECTIVE_TIMEOUT=10
expect_job_failure "rank 1 kills itself inside backward at step 3" "exited on signal 9" \
  -- -x TESSERA_COLLECTIVE_TIMEOUT -n 2 "$TESSERA_TEST_DRIVERS/ddp_failure" --mode rank-killed
