#!/usr/bin/env bash
# benchmarks/gpu/work_per_step counts what a warm training step asks of a GPU, on the CUDA backend compiled for the
# CPU: for each of gpu_step's models (f32, and the CNN with bf16 autocast) a step queues its kernels and library calls
# and makes no host wait, no device allocation, no CUDA event and no copy from pageable memory; a captured step
# replays as one graph launch with none of its kernels queued again, after one small kernel per value the replay
# uploads as kernel arguments (kernels/cuda/host_upload.cu): the optimizer's scalars, and the random offsets of the
# CNN's dropout. The f16 CNN (loss scaling) adds 5 launches to the bf16 one (the loss scaled and its
# gradient, one unscale for every gradient, the optimizer's step counts advanced on the device unless the step is
# skipped, the scale update) and no host wait: the skip is decided and counted on the device. Counts, never times.
# Skipped (77) in a build without the CUDA headers, which has no such tool.
set -euo pipefail
tool=$(dirname "$1")/../benchmarks/gpu/work_per_step
[ -x "$tool" ] || { echo "no $tool in this build"; exit 77; }
# The wide CNN at a small batch: counts do not depend on it, and its batch of 256 takes ~30 s on the emulated GPU.
timeout 300 "$tool" --cases mlp:128,cnn:64,cnn:64:bf16,cnn:64:f16,wide_cnn:8 --steps 2 --out . >work.txt
cat work.txt
"$TESSERA_PYTHON" - <<'PY'
import json
report = json.load(open("work-per-step.json"))
cases = report["cases"]
assert set(cases) == {"mlp:128", "cnn:64", "cnn:64:bf16", "cnn:64:f16", "wide_cnn:8"}, sorted(cases)
for name, case in cases.items():
    eager, replay = case["eager"], case["graph_replay"]
    assert eager["kernels"] > 0 and eager["library_calls"] > 0, (name, eager)
    assert eager["host_waits"] == 0, f"{name}: a warm step made the host wait: {eager}"
    assert eager["device_allocations"] == 0, f"{name}: a warm step allocated device memory: {eager}"
    assert eager["events_created"] == 0, f"{name}: a warm step created CUDA events: {eager}"
    assert eager["pageable_uploads"] == 0, f"{name}: a warm step copied from pageable memory: {eager}"
    uploads = 2 if name.startswith("cnn") else 1  # the optimizer's scalars; the CNN's dropout offsets
    assert replay["graph_launches"] == 1 and replay["kernels"] == uploads and replay["library_calls"] == 0, (name, replay)
    assert replay["copies"] == 0 and replay["host_waits"] == 0 and replay["pageable_uploads"] == 0, (name, replay)
extra = cases["cnn:64:f16"]["eager"]["launches"] - cases["cnn:64:bf16"]["eager"]["launches"]
assert extra == 5, f"loss scaling should add 5 launches to the bf16 step, added {extra}"
print("work_per_step: counts consistent for", ", ".join(sorted(cases)))
PY
