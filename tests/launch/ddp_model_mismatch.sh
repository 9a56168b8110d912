#!/usr/bin/env bash
# Ranks build different models (the last rank's first layer is narrower): DistributedDataParallel's construction
# must fail on every rank with a message naming the first differing parameter and both ranks' versions of it.
set -uo pipefail
source "$TESSERA_SOURCE_DIR/tests/launch/lib/failing_job.sh"
run_failing_job $MPIRUN -n 2 "$TESSERA_TEST_DRIVERS/ddp_failure" --mode model-mismatch
expect_output "the model differs across ranks" "rank 0 has parameter '0.weight' [24, 12] f32" \
              "rank 1 has parameter '0.weight' [20, 12] f32"
echo "OK: exit $status after $elapsed s naming the parameter"
