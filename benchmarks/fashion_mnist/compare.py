"""Fashion-MNIST, Tessera vs PyTorch on the same config, same ranks, one thread per rank: seconds per epoch and
test accuracy, side by side. Tessera runs `tessera train` under launch/tessera-run (its time includes reading the
HDF5 shards through the prefetching Loader); PyTorch runs torch_fashion_mnist.py (DDP over gloo, data in memory).

usage: compare.py --tessera build/bin/tessera --config configs/fashion_mnist_cnn.json --epochs 2 --ranks 2
       [--precision f32|bf16] [--data-dir data/fmnist] [--out benchmarks/results/fashion_mnist-cnn]
--precision sets the config's "precision" for Tessera, and trains PyTorch under torch.autocast (CPU, bf16) to match.
Writes OUT.json and OUT.md.
"""
import argparse
import csv
import json
import os
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def run_tessera(args, work):
    log_dir = os.path.join(work, "tessera")
    command = [os.path.join(ROOT, "launch", "tessera-run"), "-n", str(args.ranks), args.tessera, "train", args.config,
               "--set", f"epochs={args.epochs}", "--set", f"log_dir={log_dir}", "--set",
               f"checkpoint.dir={log_dir}/ckpt", "--set", f'data.train=["{args.data_dir}/train-*.h5"]', "--set",
               f'data.test=["{args.data_dir}/test-*.h5"]', "--set", f"precision={args.precision}", "--progress",
               "lines"]
    # One compute thread per rank, as the PyTorch side (torch.set_num_threads(1)): tessera-run binds each rank to
    # cores / ranks cores and Tessera would otherwise use all of them (8 threads per rank on 16 cores).
    env = dict(os.environ, TESSERA_NUM_THREADS="1", OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    subprocess.run(command, check=True, stdout=sys.stderr, env=env)
    rows = list(csv.DictReader(open(os.path.join(log_dir, "metrics.csv"))))
    return [{"epoch": int(r["epoch"]), "epoch_seconds": float(r["epoch_seconds"]),
             "test_accuracy": float(r["val_accuracy"])} for r in rows]


def run_torch(args):
    command = [sys.executable, os.path.join(HERE, "torch_fashion_mnist.py"), args.config, "--ranks", str(args.ranks),
               "--epochs", str(args.epochs), "--data-dir", args.data_dir, "--precision", args.precision]
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def summary(epochs):
    # The first epoch pays for warm-up (allocator, oneDNN plans, page cache); later epochs are the steady state.
    steady = [e["epoch_seconds"] for e in epochs[1:]] or [epochs[0]["epoch_seconds"]]
    return {"median_epoch_seconds": statistics.median(steady), "final_test_accuracy": epochs[-1]["test_accuracy"],
            "epochs": epochs}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--tessera", required=True)
    parser.add_argument("--config", required=True)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--ranks", type=int, default=2)
    parser.add_argument("--data-dir", default="data/fmnist")
    parser.add_argument("--precision", choices=["f32", "bf16"], default="f32")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    args.data_dir = os.path.abspath(args.data_dir)
    with tempfile.TemporaryDirectory() as work:
        tessera = summary(run_tessera(args, work))
    torch = summary(run_torch(args))
    ratio = torch["median_epoch_seconds"] / tessera["median_epoch_seconds"]
    result = {"config": os.path.basename(args.config), "ranks": args.ranks, "threads_per_rank": 1,
              "epochs": args.epochs, "precision": args.precision, "tessera": tessera, "pytorch": torch, "speedup_vs_pytorch": ratio}
    json.dump(result, open(args.out + ".json", "w"), indent=2)
    with open(args.out + ".md", "w") as md:
        md.write(f"# Fashion-MNIST, {result['config']}: {args.ranks} CPU ranks x 1 thread, {args.epochs} epochs, "
                 f"{args.precision}\n\n")
        md.write("| | s/epoch (median after epoch 1) | test accuracy after the last epoch |\n|---|---|---|\n")
        md.write(f"| Tessera | {tessera['median_epoch_seconds']:.2f} | {tessera['final_test_accuracy']:.4f} |\n")
        md.write(f"| PyTorch {__import__('torch').__version__} (DDP, gloo) | {torch['median_epoch_seconds']:.2f} | "
                 f"{torch['final_test_accuracy']:.4f} |\n\nTessera is {ratio:.2f}x PyTorch's speed per epoch.\n")
    print(open(args.out + ".md").read())


if __name__ == "__main__":
    main()
