#!/usr/bin/env bash
# One rank throws in the middle of training while the others go on into backward and wait in their bucket
# all-reduces: every rank must end, non-zero, with the thrown message in the output.
set -uo pipefail
source "$TESSERA_SOURCE_DIR/tests/launch/lib/expect_job_failure.bash"
expect_job_failure "[rank 1 of 2] error: rank 1 fails on purpose at step 3" \
  -- -n 2 "$TESSERA_TEST_DRIVERS/ddp_failure" --mode rank-throws
