"""End to end, same config, same machine, one run: `tessera train CONFIG` on one rank against PyTorch
(benchmarks/gpu/train_torch.py: DDP over NCCL in a one-process world, a DataLoader with pinned memory over the same
HDF5 shards through h5py), back to back. Issue 13's comparison: seconds per epoch, data-wait share, accuracy.

    python3 benchmarks/gpu/train_vs_torch.py --tessera build-gpu/bin/tessera --torch-python PY --out DIR/NAME
        [--config configs/fashion_mnist_cnn.json] [--epochs N] [--precision f32|bf16|f16] [--device cuda|auto|cpu]
        [--workers 4] [--timeout 240] [--steps-per-execution 100] [--skip-tessera | --skip-torch]

Both runs get the same effective config (the config with --epochs and --precision applied, no checkpoints),
written to NAME-run/config.json; run from the folder the config's data paths are relative to (the repository root).
Neither side makes the host wait for the GPU every step: train_torch.py sums loss and accuracy on the device and
reads them once per epoch, and Tessera reads its logged sums once every steps_per_execution steps (set to
--steps-per-execution, default 100, unless the config sets it; 1 is Tessera's default, a wait per step).
Seconds per epoch: the mean of epoch_seconds over the epochs after the first (the first includes warm-up: cuDNN
autotuning, worker start, a cold HDF5 cache), or the first alone when there is one epoch. Both sides time an epoch
alike: from the request for its first batch to the end of its last step, validation excluded. Data-wait share:
seconds blocked waiting for the next batch / epoch seconds, over the same epochs; Tessera's metrics.csv gives it
when it has a data_wait_seconds column, else it is reported as n/a. Test accuracy: the last epoch's val_accuracy
(the config's test files), and for Tessera also the accuracy its final evaluation prints.

Writes NAME.json (both runs' per-epoch numbers and the summary) and NAME.md (a short table; with --skip-torch a
one-row table of Tessera's run); each run's output in NAME-run/{tessera,torch}.log. Exit status: 0 when both runs finished, 1 otherwise (the JSON says which failed).
"""
import argparse
import csv
import json
import os
import re
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ACCURACY_TABLE_HEADER = ("| run | precision | device | epochs | s per epoch (2+) | first epoch, s | data wait | "
                         "last val_accuracy | test accuracy | exit |\n"
                         "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n")


def run(command, log_path, timeout):
    """Runs command with its output in log_path; returns (exit code or 'timeout', wall seconds)."""
    start = time.perf_counter()
    with open(log_path, "w") as log:
        log.write("$ " + " ".join(command) + "\n")
        log.flush()
        try:
            code = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, timeout=timeout).returncode
        except subprocess.TimeoutExpired:
            code = "timeout"
        except OSError as error:  # not there, not executable
            log.write(f"cannot start {command[0]}: {error}\n")
            code = f"cannot start: {error}"
    return code, time.perf_counter() - start


def steady(epochs, key):
    """The mean of key over the epochs after the first (all of them when there is one), None when missing."""
    values = [e.get(key) for e in (epochs[1:] if len(epochs) > 1 else epochs)]
    if not values or any(v is None for v in values):
        return None
    return sum(values) / len(values)


def summarise(epochs):
    seconds = steady(epochs, "epoch_seconds")
    wait = steady(epochs, "data_wait_seconds")
    return {"epochs_done": len(epochs), "seconds_per_epoch": seconds,
            "data_wait_share": wait / seconds if wait is not None and seconds else None,
            "first_epoch_seconds": epochs[0]["epoch_seconds"] if epochs else None,
            "val_accuracy": epochs[-1].get("val_accuracy") if epochs else None}


def read_metrics_csv(path):
    """Tessera's metrics.csv (epoch,step,loss,accuracy,val_loss,val_accuracy,lr,samples_per_sec,epoch_seconds[,
    data_wait_seconds...]) as a list of dicts of floats; empty cells are left out."""
    if not os.path.isfile(path):
        return []
    with open(path) as f:
        return [{k: float(v) for k, v in row.items() if v not in ("", None)} for row in csv.DictReader(f)]


def tessera_side(args, config_path, run_dir):
    log = os.path.join(run_dir, "tessera.log")
    command = [args.tessera, "train", config_path, "--progress", "lines"]
    code, wall = run(command, log, args.timeout)
    epochs = read_metrics_csv(os.path.join(run_dir, "tessera", "metrics.csv"))
    with open(log) as f:
        text = f.read()
    test = re.findall(r"^test: .*accuracy ([0-9.]+)", text, re.M)
    device = re.findall(r"^\[rank 0 of \d+\] training on (\S+)", text, re.M)
    return {"framework": "tessera", "exit": code, "wall_seconds": wall, "log": log, "epochs": epochs,
            "device": device[0] if device else None,
            "has_data_wait_column": bool(epochs) and "data_wait_seconds" in epochs[0],
            "test_accuracy": float(test[-1]) if test else None, **summarise(epochs)}


def torch_side(args, config_path, run_dir):
    log = os.path.join(run_dir, "torch.log")
    out = os.path.join(run_dir, "torch.json")
    command = [args.torch_python, os.path.join(HERE, "train_torch.py"), config_path, "--json", out,
               "--workers", str(args.workers), "--device", args.device]
    code, wall = run(command, log, args.timeout)
    result = {"framework": "pytorch", "exit": code, "wall_seconds": wall, "log": log, "epochs": []}
    if code == 0 and os.path.isfile(out):
        with open(out) as f:
            result.update(json.load(f))
        result["wall_seconds"] = wall
    result.update(summarise(result["epochs"]))
    return result


def fmt(value, pattern="{:.3f}"):
    return "n/a" if value is None else pattern.format(value)


def markdown(report):
    t, p = report["tessera"], report["pytorch"]
    if p["exit"] == "skipped":  # Tessera alone (an accuracy run)
        return ACCURACY_TABLE_HEADER + (f"| `tessera train` {report['config']} | {report['precision']} | {t['device'] or report['device']} | "
                f"{t['epochs_done']}/{report['epochs']} | {fmt(t['seconds_per_epoch'], '{:.2f}')} | "
                f"{fmt(t['first_epoch_seconds'], '{:.2f}')} | {fmt(t['data_wait_share'], '{:.1%}')} | "
                f"{fmt(t['val_accuracy'], '{:.4f}')} | {fmt(t['test_accuracy'], '{:.4f}')} | {t['exit']} |\n")
    lines = [f"### `tessera train` against PyTorch: {report['config']}, {report['epochs']} epochs, "
             f"{report['precision']}, one rank, {p.get('device') or report['device']}",
             "",
             "| | Tessera | PyTorch | Tessera / PyTorch |",
             "| --- | --- | --- | --- |",
             f"| seconds per epoch (epochs 2+) | {fmt(t['seconds_per_epoch'])} | {fmt(p['seconds_per_epoch'])} | "
             f"{fmt(report['seconds_ratio'], '{:.2f}x')} |",
             f"| first epoch, seconds | {fmt(t['first_epoch_seconds'])} | {fmt(p['first_epoch_seconds'])} | |",
             f"| data-wait share | {fmt(t['data_wait_share'], '{:.1%}')} | {fmt(p['data_wait_share'], '{:.1%}')} | |",
             f"| test accuracy (last epoch) | {fmt(t['val_accuracy'], '{:.4f}')} | "
             f"{fmt(p['val_accuracy'], '{:.4f}')} | |",
             f"| whole run, seconds (start-up, validation included) | {fmt(t['wall_seconds'], '{:.1f}')} | "
             f"{fmt(p['wall_seconds'], '{:.1f}')} | |",
             f"| exit | {t['exit']} | {p['exit']} | |",
             "",
             f"Speed-up of Tessera over PyTorch (PyTorch seconds / Tessera seconds per epoch): "
             f"{fmt(report['speedup'], '{:.2f}x')} (issue 13: at least 1.0x, aim 2x; data wait under 5%). "
             f"PyTorch {p.get('torch', '?')}, DDP over {p.get('backend', '?')}, {p.get('workers', '?')} DataLoader "
             f"workers, pin_memory {p.get('pin_memory', '?')}, its sums read once an epoch; Tessera reads its logs "
             f"every {report['steps_per_execution']} steps (steps_per_execution)."]
    if not t.get("has_data_wait_column"):
        lines.append("Tessera's metrics.csv has no data_wait_seconds column yet: its data-wait share is n/a.")
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tessera", required=True)
    parser.add_argument("--torch-python", default=sys.executable)
    parser.add_argument("--config", default="configs/fashion_mnist_cnn.json")
    parser.add_argument("--epochs", type=int, help="default: the config's")
    parser.add_argument("--precision", choices=["f32", "bf16", "f16"])
    parser.add_argument("--device", default="cuda", choices=["auto", "cuda", "cpu"])
    parser.add_argument("--workers", type=int, default=4, help="PyTorch DataLoader workers")
    parser.add_argument("--timeout", type=float, default=240, help="seconds for each of the two runs")
    parser.add_argument("--steps-per-execution", type=int, default=100,
                        help="Tessera's steps between two reads of its logs, unless the config sets it")
    parser.add_argument("--out", required=True, help="NAME: writes NAME.json, NAME.md and NAME-run/")
    side = parser.add_mutually_exclusive_group()
    side.add_argument("--skip-tessera", action="store_true")
    side.add_argument("--skip-torch", action="store_true")
    args = parser.parse_args()

    with open(args.config) as f:
        config = json.load(f)
    run_dir = os.path.abspath(args.out + "-run")
    os.makedirs(run_dir, exist_ok=True)
    config["epochs"] = args.epochs or config.get("epochs", 1)
    if args.precision:
        config["precision"] = args.precision
    config["device"] = args.device
    config.setdefault("steps_per_execution", args.steps_per_execution)
    config["log_dir"] = os.path.join(run_dir, "tessera")
    config["checkpoint"] = {"dir": ""}  # neither side writes checkpoints
    effective = os.path.join(run_dir, "config.json")
    with open(effective, "w") as f:
        json.dump(config, f, indent=1)
    metrics = os.path.join(config["log_dir"], "metrics.csv")
    if os.path.exists(metrics):
        os.remove(metrics)  # this script's own folder: a fresh run would otherwise refuse to start

    skipped = {"exit": "skipped", "epochs": [], "wall_seconds": None, **summarise([])}
    tessera = skipped | {"framework": "tessera"} if args.skip_tessera else tessera_side(args, effective, run_dir)
    print(f"tessera: exit {tessera['exit']}, {fmt(tessera['seconds_per_epoch'])} s per epoch, "
          f"val_accuracy {fmt(tessera['val_accuracy'], '{:.4f}')}", flush=True)
    pytorch = skipped | {"framework": "pytorch"} if args.skip_torch else torch_side(args, effective, run_dir)
    print(f"pytorch: exit {pytorch['exit']}, {fmt(pytorch['seconds_per_epoch'])} s per epoch, "
          f"val_accuracy {fmt(pytorch['val_accuracy'], '{:.4f}')}", flush=True)
    ts, ps = tessera["seconds_per_epoch"], pytorch["seconds_per_epoch"]
    report = {"config": args.config, "epochs": config["epochs"], "precision": config.get("precision", "f32"),
              "device": args.device, "steps_per_execution": config["steps_per_execution"],
              "tessera": tessera, "pytorch": pytorch,
              "seconds_ratio": ts / ps if ts and ps else None, "speedup": ps / ts if ts and ps else None}
    with open(args.out + ".json", "w") as f:
        json.dump(report, f, indent=1)
    with open(args.out + ".md", "w") as f:
        f.write(markdown(report))
    sys.stdout.write(markdown(report))
    finished = [r["exit"] in (0, "skipped") for r in (tessera, pytorch)]
    sys.exit(0 if all(finished) else 1)


if __name__ == "__main__":
    main()
