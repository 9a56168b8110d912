#!/usr/bin/env bash
# NCCL reports an asynchronous error on one rank (a network failure) in the middle of DDP training: every rank must
# end, non-zero, with NCCL's error and its own words in the output, never a hang. Runs distributed/nccl's own code
# over the CUDA backend compiled for the CPU (tests/support/nccl_on_cpu), whose TESSERA_NCCL_ON_CPU_FAIL makes the
# 7th collective of rank 1 fail; skipped (77) in a build without it.
set -uo pipefail
source "$TESSERA_SOURCE_DIR/tests/launch/lib/failing_job.sh"
export TESSERA_TEST_DEVICE=test TESSERA_TEST_DEVICE_BACKEND=cuda_on_cpu TESSERA_TEST_COMMUNICATOR=nccl_on_cpu
export TESSERA_NCCL_ON_CPU_FAIL=1:7 TESSERA_COLLECTIVE_TIMEOUT=60
built=0
"$TESSERA_TEST_DRIVERS/ddp_failure" --mode nccl-on-cpu-built || built=$?
[ "$built" -ne 77 ] || { echo "SKIP: this build has no CPU build of the CUDA backend"; exit 77; }
[ "$built" -eq 0 ] || { echo "FAIL: ddp_failure --mode nccl-on-cpu-built exited $built"; exit 1; }
run_failing_job $MPIRUN -n 2 "$TESSERA_TEST_DRIVERS/ddp_failure" --mode nccl-error
expect_output "[rank 1 of 2]" "unhandled system error" "collective 7 fails on purpose (TESSERA_NCCL_ON_CPU_FAIL)"
echo "OK: exit $status after $elapsed s with NCCL's error"
