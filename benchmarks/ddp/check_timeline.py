#!/usr/bin/env python3
"""Checks a `tessera bench ddp --timeline` trace: events from every rank, and on each rank the overlap DDP is for:
bucket 0's all-reduce (on COMM_TRACK: "MPI thread", or "NCCL stream" on a GPU) starts while backward (on
PHASE_TRACK: "host", or "compute stream" on a GPU) still runs, and the buckets run in order. Order and overlap
only, never durations.
  check_timeline.py TRACE RANKS COMM_TRACK PHASE_TRACK"""
import json
import sys

path, ranks, comm_track, phase_track = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
events = json.load(open(path))["traceEvents"]
tracks = {(e["pid"], e["tid"]): e["args"]["name"] for e in events if e["ph"] == "M" and e["name"] == "thread_name"}
spans = [dict(e, track=tracks[(e["pid"], e["tid"])]) for e in events if e["ph"] == "X"]
assert {e["pid"] for e in spans} == set(range(ranks)), f"events from ranks {sorted({e['pid'] for e in spans})}"
models = sorted({e["args"]["model"] for e in spans})
for rank in range(ranks):
    for model in models:
        mine = [e for e in spans if e["pid"] == rank and e["args"]["model"] == model]
        phases = {e["name"].split(" ", 1)[1]: e for e in mine if e["track"] == phase_track}
        assert {"forward", "backward", "optimizer"} <= set(phases), (rank, model, mine)
        assert phases["forward"]["ts"] <= phases["backward"]["ts"] <= phases["optimizer"]["ts"], phases
        buckets = sorted((e for e in mine if e["track"] == comm_track), key=lambda e: e["args"]["bucket"])
        assert buckets and all(e["args"]["bytes"] > 0 for e in buckets), (rank, model, mine)
        backward = phases["backward"]
        assert backward["ts"] <= buckets[0]["ts"] < backward["ts"] + backward["dur"], \
            f"rank {rank} {model}: bucket 0 did not start during backward: {buckets[0]} {backward}"
        assert all(a["ts"] <= b["ts"] for a, b in zip(buckets, buckets[1:])), "buckets run in order"
print(f"timeline: OK, {len(spans)} spans, {ranks} rank(s), models {models}, all-reduces on '{comm_track}' "
      f"overlap backward on '{phase_track}'")
