#!/usr/bin/env bash
# Host memory a checkpoint costs: peak RSS of a 1-rank `tessera train` of an MLP (16-H-H-4, AdamW, 4 steps) with
# and without writing its checkpoints, beside PyTorch training the same model on the same data with and without
# torch.save of model and optimizer state. Reports each side's extra peak RSS as a multiple of one checkpoint's size.
#   bash benchmarks/checkpoint/checkpoint_memory.sh [BUILD_DIR] [HIDDEN] [OUT_DIR]
# Defaults: build, 4096 (a checkpoint of ~200 MB), benchmarks/results. Python with h5py and torch: $TESSERA_PYTHON
# (default: the project's .venv).
set -euo pipefail
source_dir=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "${1:-$source_dir/build}" && pwd)
hidden=${2:-4096}
out=$(mkdir -p "${3:-$source_dir/benchmarks/results}" && cd "${3:-$source_dir/benchmarks/results}" && pwd)
python=${TESSERA_PYTHON:-$source_dir/.venv/bin/python}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
export TESSERA_PYTHON=$python TESSERA_SOURCE_DIR=$source_dir TESSERA_NUM_THREADS=1
source "$source_dir/tests/launch/lib/tiny_job.sh"
make_tiny_job
"$python" - "$hidden" <<'PY'
import json, sys
hidden = int(sys.argv[1])
c = json.load(open("tiny.json"))
c["model"]["layers"] = [{"type": "linear", "out_features": hidden}, {"type": "relu"},
                        {"type": "linear", "out_features": hidden}, {"type": "relu"},
                        {"type": "linear", "out_features": 4}]
c["max_steps"] = 4
json.dump(c, open("big.json", "w"))
PY
tessera_rss() {  # $1: checkpoint folder ("" for none); prints peak RSS in KiB
  rm -rf ck
  "$python" -c '
import resource, subprocess, sys
with open("train.txt", "w") as log:
    status = subprocess.run(sys.argv[1:], stdout=log, stderr=subprocess.STDOUT).returncode
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
sys.exit(status)' "$build/bin/tessera" train big.json --set "checkpoint.dir=$1" --progress lines ||
    { cat train.txt >&2; exit 1; }
}
tessera_without=$(tessera_rss "")
tessera_with=$(tessera_rss ck)
tessera_bytes=$(stat -c %s ck/ckpt-*.h5)
torch_run() { "$python" "$source_dir/benchmarks/checkpoint/torch_checkpoint_memory.py" --data data/train.h5 \
  --hidden "$hidden" --steps 4 "$@"; }
torch_without=$(torch_run)
torch_with=$(torch_run --save torch.pt)
torch_bytes=$(stat -c %s torch.pt)
"$python" - "$out" "$hidden" "$tessera_without" "$tessera_with" "$tessera_bytes" "$torch_without" "$torch_with" \
  "$torch_bytes" <<'PY'
import json, sys
out, hidden = sys.argv[1], int(sys.argv[2])
t0, t1, tb, p0, p1, pb = map(int, sys.argv[3:])
rows = []
for name, without, with_, size in (("tessera", t0, t1, tb), ("pytorch", p0, p1, pb)):
    extra = (with_ - without) * 1024
    rows.append({"framework": name, "peak_rss_without_mib": without / 1024, "peak_rss_with_mib": with_ / 1024,
                 "checkpoint_mib": size / 2**20, "extra_mib": extra / 2**20, "extra_per_checkpoint": extra / size})
json.dump({"benchmark": "checkpoint_memory", "hidden": hidden, "rows": rows}, open(f"{out}/checkpoint-memory.json", "w"),
          indent=1)
lines = [f"MLP 16-{hidden}-{hidden}-4 with AdamW, one checkpoint (model + optimizer state), 1 rank, 1 thread.", "",
         "| framework | peak RSS without (MiB) | with (MiB) | checkpoint (MiB) | extra (MiB) | extra / checkpoint |",
         "| --- | --- | --- | --- | --- | --- |"]
for r in rows:
    lines.append(f"| {r['framework']} | {r['peak_rss_without_mib']:.0f} | {r['peak_rss_with_mib']:.0f} | "
                 f"{r['checkpoint_mib']:.0f} | {r['extra_mib']:.0f} | {r['extra_per_checkpoint']:.2f} |")
open(f"{out}/checkpoint-memory.md", "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
PY
