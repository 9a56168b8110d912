#!/usr/bin/env bash
# `tessera train --timeline` (issue 16): the tiny job on 2 ranks writes a Chrome trace of its first 6 steps. The
# trace loads as JSON (trace-event format: one process per rank, named threads); every rank has the phases of
# every recorded step in order (data wait, forward, backward, optimizer), the all-reduce of each step starts
# inside that step's backward on the same rank (the reducer launches it from the gradient hook) and carries its
# bytes, and rank 0 shows the checkpoint written at step 3 (checkpoint.every_steps).
set -euo pipefail
tessera=$1
source "$TESSERA_SOURCE_DIR/tests/launch/lib/tiny_job.sh"
make_tiny_job
timeout 120 $MPIRUN -n 2 "$tessera" train tiny.json --progress lines --set checkpoint.every_steps=3 \
  --timeline trace.json --timeline-steps 6 > train.txt 2>&1 || { cat train.txt; exit 1; }
grep -q "timeline: 6 steps of every rank in trace.json" train.txt || { cat train.txt; exit 1; }
"$TESSERA_PYTHON" - <<'PY'
import json
trace = json.load(open("trace.json"))
events = [e for e in trace["traceEvents"] if e.get("ph") == "X"]
assert trace["metadata"]["steps_recorded"] == 6 and trace["metadata"]["ranks"] == 2, trace["metadata"]
threads = {(e["pid"], e["tid"]): e["args"]["name"] for e in trace["traceEvents"] if e.get("name") == "thread_name"}
assert {pid for pid, _ in threads} == {0, 1}, threads
def spans(rank, name, track):
    return [e for e in events if e["pid"] == rank and e["name"] == name and threads[(rank, e["tid"])] == track]
for rank in (0, 1):
    for step in range(1, 7):
        names = [e["name"] for e in events if e["pid"] == rank and e["args"].get("step") == step
                 and threads[(rank, e["tid"])] == "host"]
        steps = ["data wait", "forward", "backward", "optimizer"]
        assert [n for n in names if n in steps] == steps, (rank, step, names)
    backward = {e["args"]["step"]: e for e in spans(rank, "backward", "host")}
    reduces = spans(rank, "all-reduce bucket 0", "MPI thread")
    assert len(reduces) == 6, (rank, len(reduces))
    for r in reduces:
        b = backward[r["args"]["step"]]
        assert b["ts"] <= r["ts"] <= b["ts"] + b["dur"], ("the all-reduce must start during backward", rank, r, b)
        assert r["args"]["bytes"] == (16 * 32 + 32 + 32 * 4 + 4) * 4, r["args"]
writes = spans(0, "checkpoint write", "host")
assert len(writes) == 1 and writes[0]["dur"] > 0, writes
assert not spans(1, "checkpoint write", "host"), "only rank 0 writes checkpoints"
print(f"timeline OK: {len(events)} spans over 2 ranks")
PY
