#!/usr/bin/env bash
# CPU threads per rank (distributed/bootstrap.cpp): ranks that share CPUs (here mpirun --bind-to none, every mask
# the whole machine) split the cores in their masks among them, as torchrun's OMP_NUM_THREADS=1 default keeps ranks
# from oversubscribing; TESSERA_NUM_THREADS=N sets N; an empty or non-positive TESSERA_NUM_THREADS (`export
# TESSERA_NUM_THREADS=$SLURM_CPUS_PER_TASK` without --cpus-per-task) is one warning and the split, not one thread
# per core on every rank.
set -euo pipefail
tessera=$1
source "$TESSERA_SOURCE_DIR/tests/launch/lib/tiny_job.sh"
make_tiny_job
cores=$(env -u OMP_NUM_THREADS nproc)
shared=$(( cores / 2 > 0 ? cores / 2 : 1 ))
# threads OUTPUT EXPECTED [env...]: the tiny job for one step on 2 ranks; both ranks report EXPECTED threads.
threads() {
  local out=$1 expected=$2; shift 2
  timeout 120 env "$@" $MPIRUN -n 2 "$tessera" train tiny.json --progress lines --set max_steps=1 \
    --set checkpoint.dir= --log-level debug > "$out" 2>&1 || { cat "$out"; exit 1; }
  for rank in 0 1; do
    grep -Eq "^\[rank $rank of 2\] debug: bootstrap: .*, $expected CPU threads" "$out" \
      || { grep "bootstrap" "$out"; echo "FAIL: $out: rank $rank does not run $expected threads"; exit 1; }
  done
}
threads unset.txt "$shared" -u TESSERA_NUM_THREADS
threads three.txt 3 TESSERA_NUM_THREADS=3  # not what the split gives on any machine of 2 to 5 cores
for value in "" 0 many; do
  threads "bad_$value.txt" "$shared" TESSERA_NUM_THREADS="$value"
  grep -qF "TESSERA_NUM_THREADS='$value' is not a positive thread count: ignored" "bad_$value.txt" \
    || { cat "bad_$value.txt"; echo "FAIL: no warning for TESSERA_NUM_THREADS='$value'"; exit 1; }
done
echo "CPU threads per rank OK ($cores cores: $shared per rank when shared)"
