#!/usr/bin/env python3
"""A projection, not a measurement: data-parallel step time and efficiency on 8 to 1,024 GPUs (H200-class nodes of
8 GPUs on NVLink, one 400 Gb/s InfiniBand NIC per GPU) from the alpha-beta model in alpha_beta.py, for the
Fashion-MNIST CNN, a ResNet-50-sized model (25M parameters) and a GPT-2-124M-sized model. First the model is checked
against what we measured here (benchmarks/scaling/run.sh) at 2 and 4 ranks and on 2 hosts x 2 ranks.
  projection.py WORK RESULTS   reads WORK/allreduce-*.json and RESULTS/scaling-cpu.json (scaling_report.py);
                               writes RESULTS/projection.json, projection.md and projection.png
"""
import json
import math
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from alpha_beta import Link, buckets_of, fit_link, hierarchical_allreduce, ring_allreduce, step_time  # noqa: E402

GB = 1e9
GPUS_PER_NODE = 8
# Published NCCL all-reduce bus bandwidths at large sizes (nccl-tests): 8 x H200 on NVLink, about 480 GB/s with
# NCCL's default (NVLink SHARP) and about 360 GB/s with the ring algorithm; 400 Gb/s InfiniBand, 46-48 GB/s per NIC.
NVLINK_RING = 360 * GB
NVLINK_NVLS = 480 * GB
IB_PER_NIC = 47 * GB
# Assumed, not published figures we could cite: latency per algorithm step (a ring has 2(p-1) of them).
ALPHA_NVLINK = 1e-6   # 14 us for an 8-GPU ring all-reduce of a few bytes
ALPHA_IB = 4e-6       # one hop between nodes through the NIC and NCCL's proxy thread
# Measured on the project's H200 (tessera bench allreduce --backend nccl, one rank): our Communicator takes 10.5-12 us
# per all-reduce call where a raw ncclAllReduce takes 2.6 us: ~8.7 us added to each bucket's all-reduce.
CALL_OVERHEAD = 11.3e-6 - 2.6e-6
SCENARIOS = {
    # name: (link in the node, its algorithm, link across nodes, algorithm across nodes)
    "ring": (Link(ALPHA_NVLINK, NVLINK_RING), "ring", Link(ALPHA_IB, IB_PER_NIC), "ring"),
    "nvls+tree": (Link(ALPHA_NVLINK, NVLINK_NVLS), "ring", Link(ALPHA_IB, IB_PER_NIC), "tree"),
}
GPU_COUNTS = [8, 16, 32, 64, 128, 256, 512, 1024]
# Compute time of one step on one H200, f32 gradients (4 bytes per parameter) all-reduced.
MODELS = [
    {"name": "fmnist-cnn", "parameters": None, "batch": 64, "unit": "images", "compute_s": 2.34e-3,
     "compute_source": "measured: PyTorch 2.11 eager on the project's H200 test machine, batch 64 (2.34-2.60 ms; "
                       "the low end); parameters: our CNN as measured here"},
    {"name": "resnet50-sized", "parameters": 25.0e6, "batch": 256, "unit": "images", "compute_s": 256 / 3000,
     "compute_source": "assumed: about 3,000 images/s per GPU in bf16 (order of PyTorch ResNet-50 training on "
                       "H100/H200-class GPUs), batch 256; not measured here"},
    {"name": "gpt2-124M-sized", "parameters": 124.4e6, "batch": 16 * 1024, "unit": "tokens",
     "compute_s": 16 * 1024 / 346e3,
     "compute_source": "measured: PyTorch 2.11 eager on the project's H200 test machine, bf16, B16 x T1024, "
                       "346k tokens/s"},
]


def allreduce_samples(path, max_bytes):
    rows = json.load(open(path))["rows"]
    return [(r["bytes"], r["tessera"]["time_us"] * 1e-6) for r in rows if 1024 <= r["bytes"] <= max_bytes]


def validate(work, scaling):
    """Predicted against measured, for each weak-scaling run on more than one rank: the all-reduces of the model's
    buckets (bench ddp's communication mode) and the step with overlap. Links: shared memory fitted on 2 ranks of
    one host; TCP between the hosts fitted on 1+1 ranks of two hosts; the 2x2 layout is predicted as hierarchical
    (2 per node). Each model's fit uses message sizes up to twice its largest bucket."""
    rows, links = [], {}
    for run in (r for r in scaling["runs"] if r["scaling"] == "weak" and r["ranks"] > 1):
        buckets = run["timeline"]["bucket_bytes"]
        max_bytes = 2 * max(buckets)
        shm = fit_link(allreduce_samples(os.path.join(work, "allreduce-2.json"), max_bytes), 2)
        links[f"shared memory, {run['model']}"] = shm
        if run["layout"] == "2x2":
            tcp_path = os.path.join(work, "allreduce-1+1.json")
            tcp = fit_link(allreduce_samples(tcp_path, max_bytes), 2)
            links[f"TCP between hosts, {run['model']}"] = tcp
            allreduce = lambda n: hierarchical_allreduce(n, 4, 2, shm, tcp)  # noqa: E731
        else:
            allreduce = lambda n, p=run["ranks"]: ring_allreduce(n, p, shm)  # noqa: E731
        predicted = step_time(run["compute_ms"] / 1e3, buckets, allreduce)
        rows.append({"model": run["model"], "layout": run["layout"], "ranks": run["ranks"],
                     "oversubscribed": run["oversubscribed"],
                     "communication_measured_ms": run["communication_ms"],
                     "communication_predicted_ms": predicted["communication"] * 1e3,
                     "step_measured_ms": run["step_ms"], "step_predicted_ms": predicted["step"] * 1e3})
    for row in rows:
        row["communication_error"] = row["communication_predicted_ms"] / row["communication_measured_ms"] - 1
        row["step_error"] = row["step_predicted_ms"] / row["step_measured_ms"] - 1
    # The link alone at 4 ranks, from the 2-rank fit: what the ring formula says of the measured 4-rank timings.
    four = []
    for name, p, path in (("4 ranks, one host", 4, "allreduce-4.json"), ("2 hosts x 2", 4, "allreduce-2x2.json")):
        if not os.path.exists(os.path.join(work, path)):
            continue
        shm = fit_link(allreduce_samples(os.path.join(work, "allreduce-2.json"), 32 << 20), 2)
        tcp_path = os.path.join(work, "allreduce-1+1.json")
        for n, t in allreduce_samples(os.path.join(work, path), 32 << 20):
            if n not in (4096, 65536, 1 << 20, 8 << 20, 32 << 20):
                continue
            predicted = (ring_allreduce(n, p, shm) if "one host" in name else
                         hierarchical_allreduce(n, 4, 2, shm, fit_link(allreduce_samples(tcp_path, 32 << 20), 2)))
            four.append({"layout": name, "bytes": n, "measured_us": t * 1e6, "predicted_us": predicted * 1e6,
                         "error": predicted / t - 1})
    fitted = {k: {"alpha_us": v.alpha * 1e6, "bus_bandwidth_GBps": v.bandwidth / GB} for k, v in links.items()}
    return rows, four, fitted


def project(cnn_parameters):
    table = []
    for model in MODELS:
        parameters = model["parameters"] or cnn_parameters
        buckets = buckets_of(4 * parameters)
        for scenario, (intra, intra_algorithm, inter, inter_algorithm) in SCENARIOS.items():
            for p in GPU_COUNTS:
                allreduce = lambda n, p=p: CALL_OVERHEAD + hierarchical_allreduce(  # noqa: E731
                    n, p, GPUS_PER_NODE, intra, inter, inter_algorithm, intra_algorithm)
                parts = step_time(model["compute_s"], buckets, allreduce)
                table.append({"model": model["name"], "parameters": parameters, "scenario": scenario, "gpus": p,
                              "gradient_bytes": 4 * parameters, "buckets": len(buckets),
                              "compute_ms": model["compute_s"] * 1e3,
                              "allreduce_all_ms": allreduce(4 * parameters) * 1e3,
                              "communication_ms": parts["communication"] * 1e3, "step_ms": parts["step"] * 1e3,
                              "efficiency": model["compute_s"] / parts["step"],
                              "efficiency_without_overlap": model["compute_s"] / (
                                  model["compute_s"] + parts["communication"]),
                              "throughput": p * model["batch"] / parts["step"], "unit": model["unit"] + "/s"})
    return table


def assumptions():
    return [
        "A projection from a model, not a measurement: nothing here ran on more than one GPU.",
        f"Nodes of {GPUS_PER_NODE} H200s on NVLink, one 400 Gb/s InfiniBand NIC per GPU (rail-optimised, "
        "non-blocking fabric: no congestion, no stragglers, no jitter).",
        "All-reduce inside a node: ring at 360 GB/s bus bandwidth ('ring'), or NCCL's default NVLink SHARP at "
        "480 GB/s ('nvls+tree'); published NCCL figures for 8 x H200.",
        "Across nodes, hierarchical as NCCL does it: reduce-scatter in the node, 8 concurrent all-reduces of 1/8 "
        "of the data across the nodes (one per NIC, 47 GB/s each: published 46-48 GB/s), all-gather in the node; "
        "ring ('ring') or pipelined double binary tree ('nvls+tree') across nodes.",
        f"Latency per algorithm step assumed (not published): {ALPHA_NVLINK * 1e6:g} us on NVLink, "
        f"{ALPHA_IB * 1e6:g} us across nodes; plus {CALL_OVERHEAD * 1e6:.1f} us per all-reduce call, what our "
        "Communicator added to a raw ncclAllReduce in `tessera bench allreduce --backend nccl` on the H200 "
        "(one rank: 10.5-12 us against 2.6 us).",
        "f32 gradients (4 bytes per parameter, as DistributedDataParallel all-reduces them, also under bf16 "
        "autocast), in DDP's buckets: 1 MiB first, then 25 MiB; one all-reduce at a time.",
        "Overlap: all-reduces run under backward (2/3 of the compute); forward and the optimizer (1/3) do not "
        "overlap, nor does the last bucket launched: step = compute/3 + max(2/3 compute, all-reduces but the "
        "last) + last all-reduce. Weak scaling: batch per GPU fixed, efficiency = compute / step. Overlapped "
        "all-reduces are assumed not to slow the compute they hide under (NCCL's kernels do take SMs and memory "
        "bandwidth), so the with-overlap figures are an upper bound; the table without overlap is a lower one.",
        "Compute per step from one H200 (see the models' sources); data loading assumed hidden (our loader "
        "prefetches; its wait is what the timeline's data-wait column would show).",
    ]


def write_outputs(results, validation, four, links, table, cnn_parameters):
    json.dump({"benchmark": "projection", "label": "PROJECTION from an alpha-beta model, not a measurement",
               "assumptions": assumptions(), "models": MODELS, "cnn_parameters": cnn_parameters,
               "validation": {"links_fitted": links, "steps": validation, "allreduce_4_ranks": four},
               "projection": table}, open(os.path.join(results, "projection.json"), "w"), indent=2)
    lines = ["# PROJECTION: data-parallel scaling to 1,024 GPUs (alpha-beta model, not measured)", "",
             "`benchmarks/scaling/projection.py` (run by `benchmarks/scaling/run.sh`); formulas in "
             "`benchmarks/scaling/alpha_beta.py`.", "", "## Check against our measurements first", "",
             "Links fitted (least squares in relative error) to `tessera bench allreduce` here:", ""]
    lines += [f"- {k}: alpha {v['alpha_us']:.2f} us, bus bandwidth {v['bus_bandwidth_GBps']:.2f} GB/s"
              for k, v in links.items()]
    lines += ["", "Weak-scaling runs (scaling-cpu.md): the model fed with the measured compute time at p ranks, the "
              "fitted link and the model's real buckets, against the measured times. Error = predicted / measured "
              "- 1.", "",
              "| model | layout | communication measured (ms) | predicted | error | step measured (ms) | "
              "predicted | error |", "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in validation:
        layout = ("2 hosts x 2" if r["layout"] == "2x2" else f"{r['ranks']} ranks") + \
            (" (oversubscribed)" if r["oversubscribed"] else "")
        lines.append(f"| {r['model']} | {layout} | {r['communication_measured_ms']:.2f} | "
                     f"{r['communication_predicted_ms']:.2f} | {100 * r['communication_error']:+.0f}% | "
                     f"{r['step_measured_ms']:.2f} | {r['step_predicted_ms']:.2f} | {100 * r['step_error']:+.0f}% |")
    lines += ["", "How to read it: here an all-reduce is CPU work (shared-memory copies and sums, the kernel's TCP "
              "stack for the veth pair) on the same 2 cores as the compute, which other processes also used (load "
              "averages in scaling-cpu.md); the alpha-beta model assumes that communication has hardware of its own "
              "(NVLink, NICs, copy engines), as it does on GPUs, and that a link fitted at one moment holds at "
              "another. Errors here measure how far this machine is from that, not only the formulas: trust the "
              "projection's shape (latency against bandwidth terms, ring against tree, what overlap can hide) more "
              "than its absolute numbers."]
    if four:
        lines += ["", "All-reduce alone on 4 ranks, predicted from the 2-rank fit (ring; 2 hosts x 2: hierarchical):",
                  "", "| layout | bytes | measured (us) | predicted (us) | error |",
                  "| --- | ---: | ---: | ---: | ---: |"]
        lines += [f"| {r['layout']} | {r['bytes']:,} | {r['measured_us']:.1f} | {r['predicted_us']:.1f} | "
                  f"{100 * r['error']:+.0f}% |" for r in four]
    lines += ["", "## Assumptions", ""] + [f"- {a}" for a in assumptions()]
    lines += ["", "Models (compute per step on one H200):", ""]
    for m in MODELS:
        parameters = m["parameters"] or cnn_parameters
        lines.append(f"- {m['name']}: {parameters / 1e6:.2f}M parameters ({4 * parameters / 1e6:.1f} MB of f32 "
                     f"gradients), {m['batch']} {m['unit']} per GPU per step, {m['compute_s'] * 1e3:.2f} ms: "
                     f"{m['compute_source']}")
    lines += ["", "## Projection (weak scaling, batch per GPU fixed)", "",
              "Each cell: efficiency (compute / step), step time in ms, and one all-reduce of all gradients in ms. "
              "Throughput = GPUs x batch / step (projection.json has it).", "",
              "| model | scenario | " + " | ".join(f"{p} GPUs" for p in GPU_COUNTS) + " |",
              "| --- | --- | " + " | ".join("---:" for _ in GPU_COUNTS) + " |"]
    for model in MODELS:
        for scenario in SCENARIOS:
            cells = [r for r in table if r["model"] == model["name"] and r["scenario"] == scenario]
            lines.append(f"| {model['name']} | {scenario} | " + " | ".join(
                f"{r['efficiency']:.3f} ({r['step_ms']:.2f}; {r['allreduce_all_ms']:.2f})" for r in cells) + " |")
    lines += ["", "Without overlap (every all-reduce after backward: compute / (compute + all-reduces)):", "",
              "| model | scenario | " + " | ".join(f"{p} GPUs" for p in GPU_COUNTS) + " |",
              "| --- | --- | " + " | ".join("---:" for _ in GPU_COUNTS) + " |"]
    for model in MODELS:
        for scenario in SCENARIOS:
            cells = [r for r in table if r["model"] == model["name"] and r["scenario"] == scenario]
            lines.append(f"| {model['name']} | {scenario} | " +
                         " | ".join(f"{r['efficiency_without_overlap']:.3f}" for r in cells) + " |")
    lines += ["", "Plot: projection.png.", ""]
    open(os.path.join(results, "projection.md"), "w").write("\n".join(lines))

    fig, axes = plt.subplots(1, 2, figsize=(14, 5))
    for index, model in enumerate(MODELS):
        for scenario, style in (("ring", "-"), ("nvls+tree", "--")):
            mine = [r for r in table if r["model"] == model["name"] and r["scenario"] == scenario]
            x = [r["gpus"] for r in mine]
            for ax, key in ((axes[0], "efficiency"), (axes[1], "allreduce_all_ms")):
                ax.plot(x, [r[key] for r in mine], style, marker="o", color=f"C{index}",
                        label=f"{model['name']} ({scenario})")
    for ax in axes:
        ax.set_xscale("log", base=2)
        ax.set_xticks(GPU_COUNTS, [str(p) for p in GPU_COUNTS])
        ax.set_xlabel("GPUs (8 per node)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    axes[0].set_ylabel("weak-scaling efficiency (compute / step)")
    axes[0].set_title("PROJECTION: efficiency with overlap")
    axes[1].set_yscale("log")
    axes[1].set_ylabel("ms")
    axes[1].set_title("PROJECTION: one all-reduce of all f32 gradients")
    fig.suptitle("PROJECTION (alpha-beta model, published NCCL bandwidths, assumed latencies): not measured")
    fig.tight_layout()
    fig.savefig(os.path.join(results, "projection.png"), dpi=110)


def main():
    work, results = sys.argv[1], sys.argv[2]
    scaling = json.load(open(os.path.join(results, "scaling-cpu.json")))
    cnn_parameters = next(r["parameters"] for r in scaling["runs"] if r["model"] == "cnn")
    validation, four, links = validate(work, scaling)
    table = project(cnn_parameters)
    write_outputs(results, validation, four, links, table, cnn_parameters)
    print(open(os.path.join(results, "projection.md")).read())


if __name__ == "__main__":
    main()
