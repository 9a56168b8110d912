#!/usr/bin/env bash
# `tessera bench ddp --timeline` on 2 ranks writes one Chrome trace (the format Perfetto and chrome://tracing load)
# with events from every rank, and shows the overlap DDP is for: on each rank, bucket 0's all-reduce (on the MPI
# communication thread here; on the NCCL stream on a GPU, checked by launch/gpu/build_and_test.sh) starts while that
# rank's backward is still running (benchmarks/ddp/check_timeline.py: order and overlap, never durations).
set -euo pipefail
tessera=$1
TESSERA_NUM_THREADS=1 timeout 300 $MPIRUN -n 2 "$tessera" bench ddp --models wide-mlp --mlp-layers 4 --steps 1 \
  --warmup 1 --rounds 1 --first-bucket-cap-mb 1 --bucket-cap-mb 4 --timeline trace.json >bench.txt
"$TESSERA_PYTHON" "$TESSERA_SOURCE_DIR/benchmarks/ddp/check_timeline.py" trace.json 2 "MPI thread" host
"$TESSERA_PYTHON" -c "
import json; m = json.load(open('trace.json'))['metadata']
assert m['backend'] == 'mpi' and m['device'] == 'cpu', m"
