"""Tessera against an earlier Tessera, side by side in one run: `cpu_step` (one process, the MLP and the CNN) and
`tessera bench ddp` (2 ranks x 1 thread, the CNN and the wide MLP), alternating the two builds round by round so
both see the same machine load. Reports medians and new/base speed ratios (>1: the new build is faster) as
OUT.json and OUT.md.

usage: compare_commits.py --base-build /tmp/wt-base/build --new-build build --base-label 5b539f2 --new-label HEAD
       --out benchmarks/results/device-backends-vs-5b539f2 [--rounds 5] [--threads 1]
"""
import argparse
import json
import os
import statistics
import subprocess
import tempfile


def cpu_step(build, threads, seconds, work):
    out = os.path.join(work, "cpu_step")
    env = dict(os.environ, TESSERA_NUM_THREADS=str(threads), OMP_NUM_THREADS=str(threads),
               OPENBLAS_NUM_THREADS=str(threads))
    subprocess.run([os.path.join(build, "benchmarks/cpu_step/cpu_step"), "--threads", str(threads), "--seconds",
                    str(seconds), "--no-torch", "--out", out], check=True, env=env, stdout=subprocess.DEVNULL)
    with open(os.path.join(out, f"cpu_step-{threads}threads.json")) as f:
        return {model: steps for model, steps in json.load(f)["tessera"].items()}  # steps per second


def bench_ddp(build, work):
    path = os.path.join(work, "ddp.json")
    mpirun = ["mpirun", "-n", "2", "--oversubscribe", "--bind-to", "none"]
    if os.geteuid() == 0:
        mpirun.append("--allow-run-as-root")
    env = dict(os.environ, TESSERA_NUM_THREADS="1", OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1",
               OMPI_MCA_mpi_yield_when_idle="1")
    subprocess.run(mpirun + [os.path.join(build, "bin/tessera"), "bench", "ddp", "--rounds", "1", "--steps", "5",
                             "--json", path], check=True, env=env, stdout=subprocess.DEVNULL)
    with open(path) as f:
        models = json.load(f)["models"]
    # steps per second of each mode, so that higher is better everywhere
    return {f"{m['name']} ddp {mode[:-3]}": 1000.0 / m["median"][mode]
            for m in models for mode in ("overlap_ms", "one_rank_ms", "compute_ms")}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base-build", required=True)
    parser.add_argument("--new-build", required=True)
    parser.add_argument("--base-label", required=True)
    parser.add_argument("--new-label", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=2.0)
    args = parser.parse_args()

    samples = {"base": {}, "new": {}}
    with tempfile.TemporaryDirectory() as work:
        for round_index in range(args.rounds):
            order = ["base", "new"] if round_index % 2 == 0 else ["new", "base"]
            for side in order:
                build = args.base_build if side == "base" else args.new_build
                for name, rate in {**cpu_step(build, args.threads, args.seconds, work), **bench_ddp(build, work)}.items():
                    samples[side].setdefault(name, []).append(rate)
    result = {"base": args.base_label, "new": args.new_label, "rounds": args.rounds, "threads": args.threads,
              "load_average_1min_at_end": os.getloadavg()[0], "rows": []}
    for name in samples["new"]:
        base, new = statistics.median(samples["base"][name]), statistics.median(samples["new"][name])
        result["rows"].append({"benchmark": name, "base_steps_per_s": base, "new_steps_per_s": new,
                               "new_over_base": new / base, "base_samples": samples["base"][name],
                               "new_samples": samples["new"][name]})
    with open(args.out + ".json", "w") as f:
        json.dump(result, f, indent=2)
    with open(args.out + ".md", "w") as md:
        md.write(f"# {args.new_label} against {args.base_label}, side by side\n\n")
        md.write(f"`benchmarks/compare_commits.py`, {args.rounds} alternating rounds; cpu_step with "
                 f"{args.threads} thread(s) (batch 128, SGD momentum), `tessera bench ddp` on 2 ranks x 1 thread "
                 f"(CNN batch 64, wide MLP batch 8). Steps per second, median; load average at the end "
                 f"{result['load_average_1min_at_end']:.1f}.\n\n")
        md.write(f"| benchmark | {args.base_label} | {args.new_label} | new / base |\n| --- | ---: | ---: | ---: |\n")
        for row in result["rows"]:
            md.write(f"| {row['benchmark']} | {row['base_steps_per_s']:.2f} | {row['new_steps_per_s']:.2f} | "
                     f"{row['new_over_base']:.3f} |\n")
    print(open(args.out + ".md").read())


if __name__ == "__main__":
    main()
