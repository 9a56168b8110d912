#!/usr/bin/env bash
# launch/tessera-run: the flags it picks (root, oversubscription, binding, also from a hostfile's slots, forwarded
# variables), its argument errors, and a real 2-rank run of `tessera bench allreduce` through it (small sizes),
# whose table and JSON must cover every size with positive bandwidths for both the Communicator and raw MPI.
set -euo pipefail
run=$TESSERA_SOURCE_DIR/launch/tessera-run
cores=$(env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc)
# Inside a cpuset of one core (as a SLURM allocation under task/cgroup or a container gives) a job must still start,
# on that core: cgroup v1 (a cpuset hierarchy) or v2 (the unified one, its cpuset controller enabled), where root may
# make one. And under an affinity mask of one core (SLURM's task/affinity, taskset), everywhere.
# The first CPU this process may use: CPU 0 may lie outside its cpuset (docker --cpuset-cpus=2,3, a SLURM step under
# task/cgroup), where taskset -c 0 itself fails with EINVAL.
first_cpu=$(awk '/^Cpus_allowed_list:/ { split($2, a, /[-,]/); print a[1] }' /proc/self/status)
one_core_cpuset() {  # prints the new cgroup's folder and its file to move a process into, or fails
  local cg
  if [ -d /sys/fs/cgroup/cpuset ]; then
    cg=/sys/fs/cgroup/cpuset/tessera-run-$$
    mkdir "$cg" 2>/dev/null || return 1
    echo "$first_cpu" >"$cg/cpuset.cpus" && cat /sys/fs/cgroup/cpuset/cpuset.mems >"$cg/cpuset.mems" && echo "$cg tasks" && return 0
  elif grep -qw cpuset /sys/fs/cgroup/cgroup.controllers 2>/dev/null; then
    grep -qw cpuset /sys/fs/cgroup/cgroup.subtree_control || echo +cpuset >/sys/fs/cgroup/cgroup.subtree_control ||
      return 1
    cg=/sys/fs/cgroup/tessera-run-$$
    mkdir "$cg" 2>/dev/null || return 1
    echo "$first_cpu" >"$cg/cpuset.cpus" && echo "$cg cgroup.procs" && return 0
  else
    return 1
  fi
  rmdir "$cg"
  return 1
}
if [ "$(id -u)" -eq 0 ] && read -r cg procs < <(one_core_cpuset); then
  for n in 1 2; do
    sh -c "echo \$\$ >$cg/$procs && exec \"$run\" -n $n true" || { rmdir "$cg"; echo "FAIL: -n $n in a 1-core cpuset ($cg)"; exit 1; }
  done
  rmdir "$cg"
else
  echo "no 1-core cpuset made here (needs root and a cgroup cpuset controller): the affinity mask case only"
fi
for n in 1 2; do
  taskset -c "$first_cpu" "$run" -n $n true || { echo "FAIL: -n $n under taskset -c $first_cpu"; exit 1; }
done

dry=$("$run" --dry-run -n 1 echo hi)
[[ "$dry" == *"--bind-to core"* && "$dry" == *"PE=$cores"* && "$dry" != *oversubscribe* ]] || { echo "FAIL -n 1: $dry"; exit 1; }
dry=$("$run" --dry-run -n $((cores + 1)) echo hi)
[[ "$dry" == *"--oversubscribe --bind-to none"* ]] || { echo "FAIL -n cores+1: $dry"; exit 1; }
if [ "$(id -u)" -eq 0 ]; then [[ "$dry" == *--allow-run-as-root* ]]; else [[ "$dry" != *--allow-run-as-root* ]]; fi
# --hostfile: each rank gets this node's cores / the hostfile's largest slots= (at least 1); a host without slots=
# gets one core per rank (Open MPI counts a slot per core); --cores-per-rank overrides.
printf 'node1 slots=1  # a GPU node\nnode2 slots=1\n' > one_slot.txt
dry=$("$run" --dry-run -n 2 --hostfile one_slot.txt echo hi)
[[ "$dry" == *"--hostfile one_slot.txt --map-by slot:PE=$cores --bind-to core"* ]] ||
  { echo "FAIL slots=1: $dry"; exit 1; }
printf 'node1 slots=%d\n' $((cores * 2)) > many_slots.txt
dry=$("$run" --dry-run -n 2 --hostfile many_slots.txt echo hi)
[[ "$dry" == *"--map-by slot:PE=1 --bind-to core"* ]] || { echo "FAIL slots=2*cores: $dry"; exit 1; }
printf 'node1 slots=1\nnode2\n' > no_slots.txt
dry=$("$run" --dry-run -n 2 --hostfile no_slots.txt echo hi)
[[ "$dry" == *"--map-by slot:PE=1 --bind-to core"* ]] || { echo "FAIL no slots=: $dry"; exit 1; }
dry=$("$run" --dry-run -n 2 --hostfile one_slot.txt --cores-per-rank 3 echo hi)
[[ "$dry" == *"--map-by slot:PE=3 --bind-to core"* ]] || { echo "FAIL --cores-per-rank: $dry"; exit 1; }
if "$run" -n 2 --hostfile missing.txt echo 2>err.txt; then echo "FAIL: missing hostfile accepted"; exit 1; fi
grep -q "cannot read hostfile 'missing.txt'" err.txt
if "$run" -n 2 --cores-per-rank 0 echo 2>err.txt; then echo "FAIL: --cores-per-rank 0 accepted"; exit 1; fi
grep -q "cores-per-rank needs a positive core count" err.txt

dry=$(TESSERA_COLLECTIVE_TIMEOUT=5 "$run" --dry-run -n 2 echo hi)
[[ "$dry" == *"-x TESSERA_COLLECTIVE_TIMEOUT"* ]] || { echo "FAIL: timeout not forwarded: $dry"; exit 1; }
if "$run" -n x echo 2>err.txt; then echo "FAIL: -n x accepted"; exit 1; fi
grep -q "positive rank count" err.txt
if "$run" -n 2 2>err.txt; then echo "FAIL: no command accepted"; exit 1; fi
grep -q "no command given" err.txt

if "$TESSERA" bench allreduce --bogus 2>err.txt; then echo "FAIL: bad flag accepted"; exit 1; fi
grep -q "unrecognised option '--bogus'\|unrecognized option '--bogus'" err.txt || { cat err.txt; exit 1; }

timeout 120 "$run" -n 2 "$TESSERA" bench allreduce --max-bytes 4096 --rounds 1 --max-iters 20 --json ar.json \
  --md ar.md | tee out.txt
[ "$(grep -c '^ *[0-9]* [KM]*i*B ' out.txt)" -eq 10 ] || { echo "FAIL: expected 10 sizes (8 B .. 4 KiB)"; exit 1; }
"$TESSERA_PYTHON" - <<'PY'
import json
r = json.load(open("ar.json"))
assert r["ranks"] == 2 and len(r["rows"]) == 10, r
for row in r["rows"]:
    assert row["tessera"]["busbw_GBps"] > 0 and row["raw"]["busbw_GBps"] > 0, row
    # busbw = algbw * 2(n-1)/n with n = 2
    assert abs(row["tessera"]["busbw_GBps"] - row["tessera"]["algbw_GBps"]) < 1e-12, row
print("bench JSON OK")
PY
grep -q "| 4 KiB |" ar.md
# Without a GPU (or without CUDA in the build) the nccl mode says why, on one line, and fails.
if ! nvidia-smi -L >/dev/null 2>&1; then
  if "$TESSERA" bench allreduce --backend nccl 2>err.txt; then echo "FAIL: nccl without a GPU ran"; exit 1; fi
  grep -q "no GPU\|not in this build" err.txt || { cat err.txt; exit 1; }
fi
echo "tessera-run OK"
