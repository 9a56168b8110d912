#!/usr/bin/env bash
# A real two-host launch: two network namespaces joined by a veth pair, each a "host" with its own address and
# hostname (launch/two_hosts/two_hosts.sh), Open MPI starting host b's daemon through a launch agent in place of
# ssh, ranks talking TCP across the veth pair; files are shared, as on a cluster with a shared home. 4 ranks, 2 per
# host (ranks 0-1 on host a, 2-3 on host b):
#   world     every rank ran on the host Open MPI placed it on, with local ranks 0,1 on each host (the launcher's
#             OMPI_COMM_WORLD_LOCAL_RANK and MPI's shared-memory split agree), and `tessera train` prints the device
#             each rank chose from its local rank (cpu here; cuda:<local rank % GPUs> with GPUs)
#   results   a short deterministic 4-rank `tessera train` on the two hosts ends with checkpoints bitwise equal to
#             the same job's on one host (4 ranks, shared memory), and the same test loss and accuracy; its
#             gradients crossed the veth pair (bytes counted on host a's interface)
#   killed    rank 3, on host b, SIGKILLs itself inside backward: the whole job ends non-zero, quickly, with the
#             reason (the rank's last words and mpirun's "exited on signal 9")
#   stalls    rank 3, on host b, sleeps inside backward: a watchdog on ranks 0-2 (whichever fires first) ends the
#             job naming the collective
# Skips (exit 77) where network namespaces cannot be made (not root, no iproute2, a container without
# CAP_SYS_ADMIN). Each job runs under `timeout 60` (the two that must fail: failing_job.sh's `timeout 120`); the EXIT
# trap removes the namespaces.
set -uo pipefail
tessera=$1
source "$TESSERA_SOURCE_DIR/launch/two_hosts/two_hosts.sh"
source "$TESSERA_SOURCE_DIR/tests/launch/lib/failing_job.sh"
source "$TESSERA_SOURCE_DIR/tests/launch/lib/tiny_job.sh"
why=$(two_hosts_probe) || { echo "SKIP: two emulated hosts need network namespaces: $why"; exit 77; }
two_hosts_up || exit 1
trap two_hosts_down EXIT
test_start=$SECONDS
# One thread per rank (4 ranks on 2 cores), and a watchdog well inside `timeout 60` for a collective stuck on a
# rank that died; -x passes them to host b as it would to another machine.
export TESSERA_NUM_THREADS=1 TESSERA_COLLECTIVE_TIMEOUT=20
mpi_flags=(--allow-run-as-root --oversubscribe --bind-to none -x TESSERA_NUM_THREADS -x TESSERA_COLLECTIVE_TIMEOUT
           -x HDF5_USE_FILE_LOCKING -x OMPI_MCA_btl_vader_single_copy_mechanism -x OMPI_MCA_mpi_yield_when_idle)
fail() { echo "FAIL: $*"; exit 1; }

echo "=== world"
timeout 60 "$TWO_HOSTS_MPIRUN" 2 2 "${mpi_flags[@]}" -- "$TESSERA_TEST_DRIVERS/dist_world_info" >world.txt 2>&1 ||
  { status=$?; cat world.txt; fail "world: exit $status"; }
cat world.txt
for rank in 0 1 2 3; do
  host=$([ "$rank" -lt 2 ] && echo "$TWO_HOSTS_NAME_A" || echo "$TWO_HOSTS_NAME_B")
  local_rank=$((rank % 2))
  pattern="^world_info: rank $rank of 4, local rank $local_rank of 2, .* node $local_rank of 2 "
  pattern+=".*OMPI_COMM_WORLD_LOCAL_RANK=$local_rank .* host $host\$"
  grep -q "$pattern" world.txt ||
    fail "world: rank $rank is not local rank $local_rank of 2 on $host"
done

echo "=== results"
make_tiny_job
gpus=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU' || true)
train=("$tessera" train tiny.json --progress lines --set epochs=2)
before=$(two_hosts_tx_bytes)
timeout 60 "$TWO_HOSTS_MPIRUN" 2 2 "${mpi_flags[@]}" -- "${train[@]}" --set checkpoint.dir=runs/two_hosts \
  >two_hosts.txt 2>&1 || { cat two_hosts.txt; fail "results: the two-host run failed"; }
crossed=$(($(two_hosts_tx_bytes) - before))
cat two_hosts.txt
for rank in 0 1 2 3; do
  local_rank=$((rank % 2))
  device=cpu
  if [ "$gpus" -gt 0 ] && "$tessera" --version | grep -q "CUDA path built"; then device=cuda:$((local_rank % gpus)); fi
  # A GPU rank's line goes on with the GPU's PCI bus id: ", GPU 0000:..)".
  grep -qF "[rank $rank of 4] training on $device (local rank $local_rank, device: auto" two_hosts.txt ||
    fail "results: rank $rank did not train on $device as local rank $local_rank"
done
timeout 60 $MPIRUN -n 4 -x TESSERA_NUM_THREADS "${train[@]}" --set checkpoint.dir=runs/one_host >one_host.txt 2>&1 ||
  { cat one_host.txt; fail "results: the one-host run failed"; }
same_tensors runs/two_hosts/ckpt-000000016.h5 runs/one_host/ckpt-000000016.h5
grep -q '^test:' two_hosts.txt && [ "$(grep '^test:' two_hosts.txt)" = "$(grep '^test:' one_host.txt)" ] ||
  fail "results: test metrics differ: $(grep '^test:' two_hosts.txt) vs $(grep '^test:' one_host.txt)"
# 16 steps, each all-reducing the MLP's 676 f32 gradients (2.7 kB) between the hosts: at least that much crossed.
[ "$crossed" -gt $((16 * 676 * 4)) ] || fail "results: only $crossed bytes crossed the veth pair"
echo "two hosts = one host: $(grep '^test:' two_hosts.txt); $crossed bytes sent from host a over the veth pair"

echo "=== killed"
run_failing_job "$TWO_HOSTS_MPIRUN" 2 2 "${mpi_flags[@]}" -- "$TESSERA_TEST_DRIVERS/ddp_failure" --mode rank-killed
expect_output "rank 3 kills itself inside backward at step 3"
# mpirun names the first failure it processes: rank 3's SIGKILL, reported by host b's daemon, or the exit of a host a
# rank that saw the TCP peer vanish first.
grep -qE "exited on signal 9|returned a non-zero exit code|exited with non-zero status" out.txt ||
  fail "killed: mpirun did not report a failed rank"
[ "$elapsed" -lt 60 ] || fail "killed: took $elapsed s to end the job"

echo "=== stalls"
export TESSERA_COLLECTIVE_TIMEOUT=10  # as every collective before the stall: a loaded peer must not trip it
run_failing_job "$TWO_HOSTS_MPIRUN" 2 2 "${mpi_flags[@]}" -- "$TESSERA_TEST_DRIVERS/ddp_failure" --mode rank-stalls
expect_output "rank 3 stalls inside backward at step 3"
# Ranks 0-2 all wait on rank 3; whichever watchdog fires first aborts the job, so the others may not get to speak.
grep -qE "collective timeout on rank [012] of 4 \(mpi backend\): .*step 3 " out.txt ||
  fail "stalls: no watchdog on ranks 0-2 named the stuck collective at step 3"
[ "$elapsed" -lt 60 ] || fail "stalls: took $elapsed s: the watchdog did not end the job"

echo "two hosts OK in $((SECONDS - test_start)) s"
