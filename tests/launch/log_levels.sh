#!/usr/bin/env bash
# Log levels (core/log.h): by default no debug lines; TESSERA_LOG_LEVEL=debug, or --log-level debug anywhere on the
# command line (which wins over the variable), makes every rank print its bucket layout and every collective as it
# is issued and done, each line starting with the rank and the level (TORCH_DISTRIBUTED_DEBUG's use); an unknown
# level is one error naming where it came from, exit 2.
set -euo pipefail
tessera=$1
source "$TESSERA_SOURCE_DIR/tests/launch/lib/tiny_job.sh"
make_tiny_job
train() {  # train OUTPUT [args...]: the tiny job for 3 steps on 2 ranks, stderr and stdout together
  local out=$1; shift
  timeout 120 $MPIRUN -n 2 "$@" train tiny.json --progress lines --set max_steps=3 --set checkpoint.dir= \
    > "$out" 2>&1 || { cat "$out"; exit 1; }
}
train quiet.txt "$tessera"
! grep -q "debug:" quiet.txt || { echo "FAIL: debug lines at the default level"; cat quiet.txt; exit 1; }

train env.txt env TESSERA_LOG_LEVEL=debug "$tessera"
train flag.txt env TESSERA_LOG_LEVEL=off "$tessera" --log-level debug
for out in env.txt flag.txt; do
  for rank in 0 1; do
    grep -Eq "^\[rank $rank of 2\] debug: ddp: bucket 0 holds 4 parameters \(676 x f32, 2.6 KiB\)" "$out" ||
      { echo "FAIL: $out: no bucket layout from rank $rank"; cat "$out"; exit 1; }
    for step in 0 1 2; do  # DDP counts its synchronised steps from 0
      for what in issued "done in [0-9.]+ us"; do
        grep -Eq "^\[rank $rank of 2\] debug: mpi: allreduce\(sum\) of 676 x f32 \(2.6 KiB\), bucket 0, step $step $what" "$out" ||
          { echo "FAIL: $out: rank $rank, step $step: no '$what' line"; grep debug "$out" | head; exit 1; }
      done
    done
  done
done

status=0
TESSERA_LOG_LEVEL=verbose "$tessera" train tiny.json > bad.txt 2>&1 || status=$?
[ "$status" = 2 ] && grep -q "TESSERA_LOG_LEVEL: unknown log level 'verbose' (expected trace, debug, info, warn" bad.txt ||
  { echo "FAIL: exit $status"; cat bad.txt; exit 1; }
status=0
"$tessera" --log-level=loud train tiny.json > bad.txt 2>&1 || status=$?
[ "$status" = 2 ] && grep -q "\-\-log-level: unknown log level 'loud'" bad.txt || { echo "FAIL: exit $status"; cat bad.txt; exit 1; }
# A wrong command line inside a command is usage too: exit 2 (1 is an error of the job), also under mpirun.
for args in "train tiny.json --sett x=1" "train" "evaluate tiny.json" "train tiny.json --progress bogus" "data bogus" \
  "bench bogus" "data fashion-mnist --out x --shards 1 --compression lz4" "bench loader --ranks 1,x" "data inspect"; do
  status=0
  "$tessera" $args > bad.txt 2>&1 || status=$?
  [ "$status" = 2 ] && grep -Eq "see \`tessera ${args%% *}[a-z -]* --help\`|give the config file|unknown (command|benchmark)|usage:|--ranks must" bad.txt ||
    { echo "FAIL: '$args': exit $status"; cat bad.txt; exit 1; }
done
echo "log levels OK"
