"""`tessera bench ddp` and its PyTorch peer (torch_ddp.py: DDP over gloo) on the same models, batches, buckets,
ranks and threads, one after the other in the same run; writes OUT.json and a side-by-side OUT.md.

usage: compare.py --tessera build/bin/tessera --ranks 2 --out benchmarks/results/ddp-vs-torch-np2
       [--transport shm|tcp] [--steps 5 --rounds 5 --bucket-cap-mb 25 ...]

Both sides run unbound (`--bind-to none`), one compute thread per rank, so each rank's communication shares the
machine's cores with compute exactly as the other side's does. --transport tcp makes Open MPI use its TCP
transport over loopback (`btl tcp,self`), the transport gloo uses too; shm (default) is Open MPI's shared memory.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

from ddp_flags import add_shared_arguments, shared_flags

HERE = os.path.dirname(os.path.abspath(__file__))
MODES = [("compute_ms", "compute"), ("communication_ms", "communication"), ("no_overlap_ms", "no overlap"),
         ("overlap_ms", "overlap"), ("one_rank_ms", "one rank")]


def mpi_environment(args):
    env = dict(os.environ, TESSERA_NUM_THREADS="1", OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1",
               # a rank waiting in MPI yields its core (both ranks x 2 threads share the cores; see bench_ddp.cpp)
               OMPI_MCA_mpi_yield_when_idle="1")
    if args.transport == "tcp":
        env.update(OMPI_MCA_btl="tcp,self", OMPI_MCA_btl_tcp_if_include="lo")
    else:
        env.setdefault("OMPI_MCA_btl_vader_single_copy_mechanism", "cma")
    return env


def run_tessera(args, work):
    path = os.path.join(work, "tessera.json")
    mpirun = ["mpirun", "-n", str(args.ranks), "--oversubscribe", "--bind-to", "none"]
    if os.geteuid() == 0:
        mpirun.append("--allow-run-as-root")
    command = mpirun + [args.tessera, "bench", "ddp", "--json", path] + shared_flags(args)
    subprocess.run(command, check=True, stdout=sys.stderr, env=mpi_environment(args))
    return json.load(open(path)), " ".join(command)


def run_torch(args):
    command = [args.torch_python, os.path.join(HERE, "torch_ddp.py"), "--ranks", str(args.ranks)] + shared_flags(args)
    # stderr passes through: a failure there (no torch in --torch-python, gloo refusing) names its cause in the log
    out = subprocess.run(command, check=True, stdout=subprocess.PIPE, text=True).stdout
    return json.loads(out.splitlines()[-1]), " ".join(command)


def derived(median):
    return {"overlap_over_max": median["overlap_ms"] / max(median["compute_ms"], median["communication_ms"]),
            "weak_scaling": median["one_rank_ms"] / median["overlap_ms"]}


def write_markdown(path, result):
    t, p = result["tessera"], result["pytorch"]
    with open(path, "w") as md:
        md.write(f"# ddp: Tessera vs PyTorch DDP, {result['ranks']} ranks x 1 thread, {result['transport']}\n\n")
        md.write(f"`{result['command']}` on {t['host']}, {t['date']}; 1-minute load average at the end of the Tessera "
                 f"part {t['load_average_1min_at_end']:.1f}. Tessera: `{result['tessera_command']}` ({t['backend']} "
                 f"backend, {t['mpi_settings']}). PyTorch {p['torch']}: `{result['pytorch_command']}` (DDP over "
                 f"{p['backend']}). ms per step, slowest rank, median of {t['rounds']} rounds of "
                 f"{t['steps_per_round']} steps; buckets {t['first_bucket_cap_mb']} MiB first, then "
                 f"{t['bucket_cap_mb']} MiB.\n\n")
        md.write("| model | framework | grads (MB) | buckets | " + " | ".join(label for _, label in MODES) +
                 " | overlap / max(comp, comm) | weak scaling | PyTorch overlap / Tessera overlap |\n")
        md.write("| --- | --- | ---: | ---: |" + " ---: |" * (len(MODES) + 3) + "\n")
        for tm, pm in zip(t["models"], p["models"]):
            speedup = result["pytorch_overlap_over_tessera_overlap"][tm["name"]]
            for name, m, buckets, extra in [("Tessera", tm, tm["bucket_count"], f"{speedup:.2f}x"),
                                             ("PyTorch", pm, pm["buckets"], "")]:
                d = derived(m["median"])
                md.write(f"| {tm['name']} | {name} | {m['gradient_bytes'] / 1e6:.1f} | {buckets} | " +
                         " | ".join(f"{m['median'][key]:.2f}" for key, _ in MODES) +
                         f" | {d['overlap_over_max']:.3f} | {d['weak_scaling']:.3f} | {extra} |\n")
        md.write("\nModes as in `tessera bench ddp --help` and torch_ddp.py: compute = the plain step on every rank at "
                 "once; communication = the buckets' all-reduces alone; no overlap = all-reduce after backward; "
                 "overlap = DDP as used for training; one rank = the plain step with the other ranks idle. "
                 "weak scaling = one rank / overlap.\n")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--tessera", required=True)
    parser.add_argument("--ranks", type=int, default=2)
    parser.add_argument("--transport", choices=["shm", "tcp"], default="shm")
    parser.add_argument("--out", required=True)
    parser.add_argument("--torch-python", default=sys.executable,
                        help="the Python with torch for the PyTorch side (default: this one)")
    add_shared_arguments(parser, steps=5, rounds=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        tessera, tessera_command = run_tessera(args, work)
    pytorch, pytorch_command = run_torch(args)
    result = {"command": "python3 benchmarks/ddp/compare.py " + " ".join(sys.argv[1:]), "ranks": args.ranks,
              "transport": ("Open MPI TCP over loopback" if args.transport == "tcp" else "Open MPI shared memory") +
              " vs gloo (TCP over loopback)",
              "tessera_command": tessera_command, "pytorch_command": pytorch_command,
              "tessera": tessera, "pytorch": pytorch,
              "pytorch_overlap_over_tessera_overlap": {
                  tm["name"]: pm["median"]["overlap_ms"] / tm["median"]["overlap_ms"]
                  for tm, pm in zip(tessera["models"], pytorch["models"])}}
    json.dump(result, open(args.out + ".json", "w"), indent=2)
    write_markdown(args.out + ".md", result)
    print(open(args.out + ".md").read())


if __name__ == "__main__":
    main()
