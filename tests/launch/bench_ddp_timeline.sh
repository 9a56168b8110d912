#!/usr/bin/env bash
# `tessera bench ddp --timeline` on 2 ranks writes one Chrome trace (the format Perfetto and chrome://tracing load)
# with events from every rank, and shows the overlap DDP is for: on each rank, a bucket's all-reduce (on the MPI
# communication thread here; on the NCCL stream on a GPU) starts while that rank's backward is still running.
# Spans are checked for order and overlap, never for duration.
set -euo pipefail
tessera=$1
TESSERA_NUM_THREADS=1 timeout 300 $MPIRUN -n 2 "$tessera" bench ddp --models wide-mlp --mlp-layers 4 --steps 1 \
  --warmup 1 --rounds 1 --first-bucket-cap-mb 1 --bucket-cap-mb 4 --timeline trace.json >bench.txt
"$TESSERA_PYTHON" - <<'PY'
import json
trace = json.load(open("trace.json"))
events = trace["traceEvents"]
spans = [e for e in events if e["ph"] == "X"]
assert {e["pid"] for e in spans} == {0, 1}, "events from both ranks"
names = {(e["pid"], e["args"]["name"]) for e in events if e["ph"] == "M" and e["name"] == "process_name"}
assert names == {(0, "rank 0"), (1, "rank 1")}, names
assert trace["metadata"]["backend"] == "mpi" and trace["metadata"]["device"] == "cpu", trace["metadata"]
for rank in (0, 1):
    mine = [e for e in spans if e["pid"] == rank]
    phase = {e["name"].split(" ", 1)[1]: e for e in mine if e["name"].split(" ", 1)[1] in ("forward", "backward", "optimizer")}
    assert set(phase) == {"forward", "backward", "optimizer"}, mine
    assert phase["forward"]["ts"] <= phase["backward"]["ts"] <= phase["optimizer"]["ts"]
    buckets = sorted((e for e in mine if "all-reduce bucket" in e["name"]), key=lambda e: e["args"]["bucket"])
    assert len(buckets) >= 2 and all(e["args"]["bytes"] > 0 for e in buckets), buckets
    backward = phase["backward"]
    end = backward["ts"] + backward["dur"]
    first = buckets[0]
    assert backward["ts"] <= first["ts"] < end, f"rank {rank}: bucket 0 did not start during backward: {first} {backward}"
    assert all(a["ts"] <= b["ts"] for a, b in zip(buckets, buckets[1:])), "buckets run in order"
print("timeline: OK,", len(spans), "spans")
PY
