#!/usr/bin/env bash
# Issue 13's training checks on the GPU machine: build_and_test.sh calls it once per check, each with its own time
# limit, in the order its header explains; it also runs alone from the repository root once data/fmnist exists
# (build_and_test.sh makes it from the carried .debs/fmnist) and the CUDA build is in build-gpu/.
#   bash launch/gpu/train_checks.sh accuracy PRECISION SECONDS
#       `tessera train configs/fashion_mnist_cnn.json --set precision=PRECISION` on one rank on the GPU, all 12
#       epochs; PASS when the test accuracy it prints at the end is >= 0.91 (issue 13). Seconds per epoch too.
#   bash launch/gpu/train_checks.sh compare SECONDS [EPOCHS]
#       benchmarks/gpu/train_vs_torch.py: `tessera train` (f32, EPOCHS epochs, default 3) against PyTorch DDP over
#       NCCL with a pinned-memory DataLoader over the same shards, back to back; seconds per epoch, data-wait
#       shares, accuracies. PASS when both runs finish (the speed-up is reported, never asserted).
# SECONDS bounds the whole check (the runs get it less 10 s for the report). A run that times out still reports
# the epochs it finished (metrics.csv), and the check FAILs saying so.
#
# Environment it reads (build_and_test.sh sets them):
#   TESSERA_BIN           the tessera binary (default build-gpu/bin/tessera)
#   TESSERA_TORCH_PYTHON  a python with torch and h5py, with the machine's own libraries (default python3)
#   TESSERA_DRIVER_PYTHON the python that runs the driver (standard library only) and with it tessera, so it has
#                         tessera's libraries on LD_LIBRARY_PATH (default python3)
#   TESSERA_GPU_WORK      where logs and results go (default /tmp/tessera-gpu-work): train-<name>.{json,md,log},
#                         train-<name>-run/ (each run's output, metrics.csv, effective config)
#   TESSERA_GPU_SUMMARY   the file that gets one PASS/FAIL line per check (default $TESSERA_GPU_WORK/summary.txt)
#   TESSERA_TRAIN_CONFIG, TESSERA_TRAIN_DEVICE, TESSERA_TRAIN_TARGET   another config, device and accuracy target
#                         (default configs/fashion_mnist_cnn.json, cuda, 0.91): for a try-out of this script on a
#                         small data set without a GPU (device cpu)
# Environment it sets, and why:
#   HDF5_USE_FILE_LOCKING=FALSE   read-only opens take no lock (as launch/tessera-run sets it for jobs)
#   PYTHONUNBUFFERED=1            the Python drivers' progress reaches the log as it happens
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
tessera=${TESSERA_BIN:-build-gpu/bin/tessera}
python=${TESSERA_TORCH_PYTHON:-python3}
driver_python=${TESSERA_DRIVER_PYTHON:-python3}
work=${TESSERA_GPU_WORK:-/tmp/tessera-gpu-work}
summary=${TESSERA_GPU_SUMMARY:-$work/summary.txt}
config=${TESSERA_TRAIN_CONFIG:-configs/fashion_mnist_cnn.json}
device=${TESSERA_TRAIN_DEVICE:-cuda}
target=${TESSERA_TRAIN_TARGET:-0.91}
export HDF5_USE_FILE_LOCKING=FALSE PYTHONUNBUFFERED=1
mkdir -p "$work"
result() { echo "$1 $2" | tee -a "$summary"; }  # result PASS|FAIL <what>

usage() { sed -n '5,12p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
[ $# -ge 2 ] || usage
check=$1
if [ "$config" = configs/fashion_mnist_cnn.json ] && [ ! -f data/fmnist/test-00001-of-00002.h5 ]; then
  result FAIL "train $check: data/fmnist is missing (build_and_test.sh converts .debs/fmnist into it)"; exit 1
fi

# verdict FILE.json: one line from train_vs_torch.py's report, and the exit status of the check.
verdict() {
  "$driver_python" - "$1" "$target" <<'PY'
import json, sys
report, target = json.load(open(sys.argv[1])), float(sys.argv[2])
t, p = report["tessera"], report["pytorch"]
def num(v, f="{:.4f}"):
    return "n/a" if v is None else f.format(v)
if report["pytorch"]["exit"] == "skipped":  # an accuracy run
    acc, name = t["test_accuracy"], f"train {report['precision']}"
    done = f"{t['epochs_done']}/{report['epochs']} epochs, {num(t['seconds_per_epoch'], '{:.2f}')} s per epoch"
    # val_accuracy is the accuracy on the config's test files after each epoch: a run stopped by its time limit
    # has still shown the claim if an epoch reached the target.
    reached = [e["epoch"] for e in t["epochs"] if e.get("val_accuracy", 0) >= target]
    if t["exit"] == 0 and acc is not None and acc >= target:
        print(f"PASS {name}: test accuracy {num(acc)} >= {target} ({done})")
        sys.exit(0)
    if t["exit"] == "timeout" and reached:
        first = t["epochs"][int(reached[0]) - 1]
        print(f"PASS {name}: val_accuracy (test files) {num(first['val_accuracy'])} >= {target} at epoch "
              f"{int(first['epoch'])}; stopped by the time limit ({done})")
        sys.exit(0)
    if t["exit"] != 0:
        print(f"FAIL {name}: exit {t['exit']} ({done}; last val_accuracy {num(t['val_accuracy'])})")
    else:
        print(f"FAIL {name}: test accuracy {num(acc)} < {target} ({done})")
    sys.exit(1)
ok = t["exit"] == 0 and p["exit"] == 0
print(f"{'PASS' if ok else 'FAIL'} train vs torch ({report['precision']}, {report['epochs']} epochs): "
      f"{num(t['seconds_per_epoch'], '{:.2f}')} s against {num(p['seconds_per_epoch'], '{:.2f}')} s per epoch, "
      f"speed-up {num(report['speedup'], '{:.2f}x')}, data wait {num(t['data_wait_share'], '{:.1%}')} against "
      f"{num(p['data_wait_share'], '{:.1%}')}, accuracy {num(t['val_accuracy'])} against {num(p['val_accuracy'])}"
      + ("" if ok else f" (exit: tessera {t['exit']}, pytorch {p['exit']})"))
sys.exit(0 if ok else 1)
PY
}

case $check in
  accuracy)
    precision=$2 seconds=${3:-300}
    name=train-$precision
    args=(--precision "$precision" --skip-torch)  # the config's epochs (12)
    per_run=$((seconds - 10))
    ;;
  compare)
    seconds=$2 epochs=${3:-3}
    name=train-vs-torch
    args=(--precision f32 --epochs "$epochs" --workers 4)
    per_run=$(((seconds - 10) / 2))  # each side half; PyTorch starts when Tessera has ended
    ;;
  *) usage ;;
esac
[ "$seconds" -gt 30 ] || { result FAIL "train $check ${precision:-}: no time left ($seconds s)"; exit 1; }
echo "train_checks: $name (${per_run} s per run; logs: $work/$name-run/)"
timeout "$seconds" "$driver_python" benchmarks/gpu/train_vs_torch.py --tessera "$tessera" --torch-python "$python" \
  --config "$config" --device "$device" --timeout "$per_run" --out "$work/$name" "${args[@]}"
code=$?
[ -f "$work/$name.json" ] || { result FAIL "train $check ${precision:-}: no report (exit $code; $name-run/)"; exit 1; }
line=$(verdict "$work/$name.json")
status=$?
result "${line%% *}" "${line#* }"
exit $status
