#!/usr/bin/env python3
"""Weak and strong scaling from `tessera bench ddp` runs (benchmarks/scaling/run.sh): throughput, efficiency, and
where a step's time goes, taken from each run's timeline.
  scaling_report.py WORK RESULTS   reads WORK/ddp-{weak,strong}-{1,2,4,2x2}.json and .trace.json, writes
                                   RESULTS/scaling-cpu.json, scaling-cpu.md and scaling-cpu.png

Definitions (step time = bench ddp's "overlap" mode: DistributedDataParallel as used for training, the slowest
rank's time per step, median of rounds):
  throughput            global batch / step time (samples/s)
  weak efficiency       step time on 1 rank / step time on p ranks (batch per rank fixed)
  strong efficiency     throughput on p ranks / (p x throughput on 1 rank) (global batch fixed)
  vs plain              either efficiency with the plain step on 1 rank (bench ddp's "compute alone": no DDP
                        wrapper) as t(1) in place of the 1-rank DDP step
  breakdown             one traced step per run (the timeline), mean over ranks, as shares of that step:
                        compute = the step's host time less exposed communication and data wait; exposed
                        communication = the last bucket's all-reduce, from its start to its end (backward waits for
                        it in DDP's finalize; the averaging and copies after it count as compute); data wait =
                        spans named "data" (bench ddp trains on a batch already in memory, so none: a loader's wait
                        would show up here; the train runs below measure it); hidden communication
                        = the rest of the all-reduces' time on the MPI communication thread, under backward. Shares,
                        because one step on a shared machine can be slowed as a whole by other processes; the step
                        times and efficiencies come from the medians.
  tessera train        the Fashion-MNIST CNN config on real data through the loader (40 steps, 64 per rank): the
                        samples/s and data-wait seconds of its metrics.csv (rank 0's share of the epoch spent waiting
                        for the next batch)
Oversubscribed: more threads (ranks x 1 compute thread) than the machine's cores, marked in every table and plot.
"""
import csv
import glob
import json
import os
import re
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

LAYOUT_ORDER = ["1", "2", "4", "2x2"]


def timeline_breakdown(trace_path):
    """{model: {compute_ms, communication_ms, exposed_communication_ms, data_wait_ms, step_ms, bucket_bytes}}, the
    mean over ranks of one traced step."""
    events = json.load(open(trace_path))["traceEvents"]
    tracks = {(e["pid"], e["tid"]): e["args"]["name"] for e in events if e["ph"] == "M" and e["name"] == "thread_name"}
    spans = [dict(e, track=tracks[(e["pid"], e["tid"])]) for e in events if e["ph"] == "X"]
    per_model = {}
    for model in sorted({e["args"]["model"] for e in spans}):
        rows = []
        for rank in sorted({e["pid"] for e in spans}):
            mine = [e for e in spans if e["pid"] == rank and e["args"]["model"] == model]
            phases = {e["name"].split(" ", 1)[1]: e for e in mine if e["track"] in ("host", "compute stream")}
            buckets = sorted((e for e in mine if "all-reduce" in e["name"]), key=lambda e: e["ts"])
            data = sum(e["dur"] for e in mine if "data" in e["name"].split(" ", 1)[-1])
            start = min(e["ts"] for e in phases.values())
            end = max(e["ts"] + e["dur"] for e in phases.values())
            backward = phases["backward"]
            backward_end = backward["ts"] + backward["dur"]
            # The wait for the last all-reduce: from its start to its end or backward's, whichever is first (after
            # it, backward's finalize averages and copies gradients: host work, counted as compute).
            communication = sum(e["dur"] for e in buckets)
            last = buckets[-1] if buckets else None
            exposed = (min(max(min(last["ts"] + last["dur"], backward_end) - last["ts"], 0), communication)
                       if last else 0)
            rows.append({"step_ms": (end - start) / 1e3, "data_wait_ms": data / 1e3,
                         "exposed_communication_ms": exposed / 1e3,
                         "communication_ms": communication / 1e3,
                         "compute_ms": (end - start - exposed - data) / 1e3,
                         "bucket_bytes": [e["args"]["bytes"] for e in buckets]})
        mean = {k: sum(r[k] for r in rows) / len(rows) for k in rows[0] if k != "bucket_bytes"}
        mean["bucket_bytes"] = rows[0]["bucket_bytes"]
        for part in ("compute", "exposed_communication", "data_wait"):
            mean[part + "_share"] = mean[part + "_ms"] / mean["step_ms"]
        mean["hidden_communication_share"] = (mean["communication_ms"] - mean["exposed_communication_ms"]) / \
            mean["step_ms"]
        per_model[model] = mean
    return per_model


def load_runs(work):
    runs = []
    for path in sorted(glob.glob(os.path.join(work, "ddp-*-*.json"))):
        match = re.fullmatch(r"ddp-(weak|strong)-(1|2|4|2x2)\.json", os.path.basename(path))
        if not match:
            continue
        scaling, layout = match.groups()
        result = json.load(open(path))
        timeline = timeline_breakdown(path[: -len(".json")] + ".trace.json")
        cores = os.cpu_count()
        for model in result["models"]:
            batch = int(re.search(r"batch (\d+) per rank", model["description"]).group(1))
            ranks = result["ranks"]
            runs.append({
                "scaling": scaling, "layout": layout, "ranks": ranks, "hosts": 2 if layout == "2x2" else 1,
                "cores": cores, "oversubscribed": ranks * result["threads_per_rank"] > cores,
                "model": model["name"], "parameters": model["parameters"],
                "gradient_bytes": model["gradient_bytes"], "batch_per_rank": batch, "global_batch": batch * ranks,
                "step_ms": model["median"]["overlap_ms"], "compute_ms": model["median"]["compute_ms"],
                "communication_ms": model["median"]["communication_ms"],
                "one_rank_ms": model["median"]["one_rank_ms"],
                "throughput": batch * ranks / (model["median"]["overlap_ms"] / 1e3),
                "timeline": timeline[model["name"]],
                "load_average": result["load_average_1min_at_end"], "date": result["date"],
                "mpi_settings": result["mpi_settings"], "command": result["command"]})
    for run in runs:
        base = next(r for r in runs if r["scaling"] == run["scaling"] and r["model"] == run["model"] and
                    r["layout"] == "1")
        run["efficiency"] = (base["step_ms"] / run["step_ms"] if run["scaling"] == "weak"
                             else run["throughput"] / (run["ranks"] * base["throughput"]))
        # Against the plain step on one rank (no DDP wrapper: no bucket copies, no one-rank all-reduce), the t(1) of
        # bench ddp's own weak_scaling_efficiency; a one-rank DDP step costs more (wide MLP: 16.5 vs 10.0 ms).
        plain = base["compute_ms"]
        run["efficiency_vs_plain"] = (plain / run["step_ms"] if run["scaling"] == "weak"
                                      else plain / (run["ranks"] * run["step_ms"]))
    runs.sort(key=lambda r: (r["model"], r["scaling"], LAYOUT_ORDER.index(r["layout"])))
    return runs


def load_train_runs(work, cores):
    runs = []
    for layout in LAYOUT_ORDER:
        path = os.path.join(work, f"train-{layout}", "metrics.csv")
        if not os.path.exists(path):
            continue
        row = list(csv.DictReader(open(path)))[-1]
        ranks = 4 if layout == "2x2" else int(layout)
        runs.append({"layout": layout, "ranks": ranks, "hosts": 2 if layout == "2x2" else 1,
                     "oversubscribed": ranks > cores, "steps": int(row["step"]),
                     "samples_per_s": float(row["samples_per_sec"]),
                     "data_wait_share": float(row["data_wait_seconds"]) / float(row["epoch_seconds"])})
    for run in runs:
        run["efficiency"] = run["samples_per_s"] / (run["ranks"] * runs[0]["samples_per_s"])
    return runs


def label(run):
    where = "2 hosts x 2" if run["layout"] == "2x2" else f"{run['ranks']} rank{'s' if run['ranks'] > 1 else ''}"
    return where + (" (oversubscribed)" if run["oversubscribed"] else "")


def write_markdown(runs, train, path):
    cores = runs[0]["cores"]
    loads = [r["load_average"] for r in runs]
    lines = [
        "# Scaling on the CPU: weak and strong, 1-4 ranks and 2 hosts x 2 ranks", "",
        f"`benchmarks/scaling/run.sh`: `tessera bench ddp --timeline` (MPI backend, 1 thread per rank) on a "
        f"{cores}-core machine, {runs[0]['date']} to {runs[-1]['date']}; {runs[0]['mpi_settings']}; 1-minute load "
        f"average {min(loads):.1f}-{max(loads):.1f} (other processes shared the cores). 4 ranks on {cores} cores are "
        "**oversubscribed**: two ranks share each core, so their step time says what contention costs, not what "
        "4 cores would do. 2 hosts x 2 = two network namespaces joined by a veth pair (launch/two_hosts/), TCP "
        "between the hosts, shared memory within one: the same cores, so also oversubscribed. Each rank also runs an "
        "MPI communication thread, so even 2 ranks share the 2 cores with their all-reduces.", "",
        "Step = DDP step with overlap, slowest rank, median of rounds; compute alone and communication alone: bench "
        "ddp's other modes, medians; weak efficiency = t(1) / t(p); strong efficiency = throughput(p) / (p x "
        "throughput(1)), t(1) and throughput(1) of the DDP step on one rank; vs plain: the same with the plain "
        "step (no DDP) on one rank as t(1). Breakdown from the timeline: one traced step, mean over ranks, shares "
        "of that step "
        "(compute, communication exposed after backward, data wait: none, the batch is in memory; hidden: "
        "all-reduce time under backward, not part of the step).", "",
        "| model | scaling | layout | batch/rank | global batch | step (ms) | samples/s | efficiency | vs plain | "
        "compute alone (ms) | comm. alone (ms) | traced step (ms) | compute | exposed comm. | data wait | "
        "hidden comm. |",
        "| --- | --- | --- " + "| ---: " * 13 + "|"]
    for r in runs:
        t = r["timeline"]
        lines.append(f"| {r['model']} | {r['scaling']} | {label(r)} | {r['batch_per_rank']} | {r['global_batch']} | "
                     f"{r['step_ms']:.2f} | {r['throughput']:.0f} | {r['efficiency']:.2f} | "
                     f"{r['efficiency_vs_plain']:.2f} | {r['compute_ms']:.2f} | "
                     f"{r['communication_ms']:.2f} | {t['step_ms']:.2f} | {100 * t['compute_share']:.0f}% | "
                     f"{100 * t['exposed_communication_share']:.0f}% | {100 * t['data_wait_share']:.0f}% | "
                     f"{100 * t['hidden_communication_share']:.0f}% |")
    models = sorted({r["model"] for r in runs})
    lines += ["", "Models: " + "; ".join(
        f"{m}: {next(r['parameters'] for r in runs if r['model'] == m):,} parameters, "
        f"{next(r['gradient_bytes'] for r in runs if r['model'] == m) / 1e6:.2f} MB of f32 gradients"
        for m in models) + ". Plots: scaling-cpu.png.", ""]
    if train:
        lines += ["## tessera train on Fashion-MNIST (real data, loader included)", "",
                  f"`tessera train configs/fashion_mnist_cnn.json`, {train[0]['steps']} steps of 64 per rank (weak "
                  "scaling), no validation; its metrics.csv: samples/s over all ranks, data wait = rank 0's time "
                  "blocked on the next batch / epoch time. Short runs: the first steps' warm-up is included.", "",
                  "| layout | samples/s | efficiency | data wait |", "| --- | ---: | ---: | ---: |"]
        lines += [f"| {label(r)} | {r['samples_per_s']:.0f} | {r['efficiency']:.2f} | "
                  f"{100 * r['data_wait_share']:.1f}% |" for r in train] + [""]
    open(path, "w").write("\n".join(lines))


def plot(runs, path):
    models = sorted({r["model"] for r in runs})
    fig, axes = plt.subplots(len(models), 3, figsize=(15, 4.2 * len(models)), squeeze=False)
    for row, model in enumerate(models):
        for scaling, marker in (("weak", "o"), ("strong", "s")):
            mine = [r for r in runs if r["model"] == model and r["scaling"] == scaling]
            x = range(len(mine))
            axes[row][0].plot(x, [r["throughput"] for r in mine], marker=marker, label=scaling)
            axes[row][1].plot(x, [r["efficiency"] for r in mine], marker=marker, label=scaling)
            axes[row][0].plot(x, [r["ranks"] * mine[0]["throughput"] for r in mine], ls=":", color="gray",
                              label=f"ideal ({scaling}: p x 1 rank)")
        for ax in axes[row][:2]:
            mine = [r for r in runs if r["model"] == model and r["scaling"] == "weak"]
            ax.set_xticks(range(len(mine)), [label(r).replace(" (oversubscribed)", "\n(oversub.)") for r in mine])
            ax.grid(alpha=0.3)
            ax.legend()
        axes[row][0].set_title(f"{model}: throughput (samples/s)")
        axes[row][1].set_title(f"{model}: scaling efficiency")
        axes[row][1].axhline(1.0, color="gray", lw=0.8, ls="--")
        mine = [r for r in runs if r["model"] == model]
        x = range(len(mine))
        compute, exposed, data, hidden = ([100 * r["timeline"][part + "_share"] for r in mine] for part in
                                          ("compute", "exposed_communication", "data_wait", "hidden_communication"))
        ax = axes[row][2]
        ax.bar(x, compute, label="compute")
        ax.bar(x, exposed, bottom=compute, label="exposed communication")
        ax.bar(x, data, bottom=[c + e for c, e in zip(compute, exposed)], label="data wait")
        ax.bar(x, hidden, bottom=[c + e + d for c, e, d in zip(compute, exposed, data)], alpha=0.35,
               label="communication hidden under backward (not in the step)")
        ax.set_xticks(x, [f"{r['scaling']}\n{r['layout']}{'*' if r['oversubscribed'] else ''}" for r in mine],
                      fontsize=8)
        ax.set_title(f"{model}: one traced step (% of it), * oversubscribed")
        ax.legend(fontsize=7)
    loads = [r["load_average"] for r in runs]
    fig.suptitle(f"Tessera data-parallel scaling on a {runs[0]['cores']}-core CPU machine (MPI backend, 1 thread "
                 f"per rank; 4 ranks oversubscribed; machine shared: 1-min load average {min(loads):.0f}-"
                 f"{max(loads):.0f})")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main():
    work, results = sys.argv[1], sys.argv[2]
    runs = load_runs(work)
    if not runs:
        sys.exit(f"scaling_report.py: no ddp-*.json runs in {work}")
    train = load_train_runs(work, runs[0]["cores"])
    json.dump({"benchmark": "scaling", "note": __doc__.strip(), "runs": runs, "train": train},
              open(os.path.join(results, "scaling-cpu.json"), "w"), indent=2)
    write_markdown(runs, train, os.path.join(results, "scaling-cpu.md"))
    plot(runs, os.path.join(results, "scaling-cpu.png"))
    print(open(os.path.join(results, "scaling-cpu.md")).read())


if __name__ == "__main__":
    main()
