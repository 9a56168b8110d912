#!/usr/bin/env bash
# Kill and resume. A 2-rank job is SIGKILLed while rank 0 writes the epoch-2 checkpoint (temporary file complete,
# not yet renamed: TESSERA_FAULT_KILL_AT_CHECKPOINT): the job must exit non-zero, the epoch-1 checkpoint must stay
# the newest and loadable, and the half-written file must never appear under a checkpoint name. `--resume` then
# trains epoch 2 again and must end with parameters bitwise equal to an uninterrupted 2-epoch run (dropout RNG,
# AdamW state, cosine schedule and sampler position all restored). Resumed on 1 rank with the same global batch
# (128 = 2 x 64), the result must match the 2-rank run within 1e-5 (no dropout there: its masks depend on how the
# batch is split).
set -euo pipefail
tessera=$1
source "$TESSERA_SOURCE_DIR/tests/launch/lib/dependencies.sh"
require_fashion_mnist
"$tessera" data fashion-mnist --out data/fmnist --shards 2 >/dev/null
config=$TESSERA_SOURCE_DIR/configs/fashion_mnist_mlp.json
small=(--set epochs=2 --set model.layers.1.out_features=64 --set model.layers.4.out_features=32 --progress lines)
run() {  # run NAME RANKS [extra args...]
  local name=$1 ranks=$2; shift 2
  timeout 900 $MPIRUN -n "$ranks" "$tessera" train "$config" "${small[@]}" --set log_dir=runs/$name \
    --set checkpoint.dir=runs/$name/ckpt "$@" > "$name.txt" 2>&1
}
killed() {  # killed NAME [extra args...]: the run that dies writing the epoch-2 checkpoint
  local name=$1; shift
  local status=0
  TESSERA_FAULT_KILL_AT_CHECKPOINT=938 run "$name" 2 "$@" || status=$?  # one node: ranks inherit the environment
  cat "$name.txt" | tail -n 5
  [ "$status" -ne 0 ] && [ "$status" -ne 124 ] || { echo "FAIL: the killed job exited $status"; exit 1; }
  ls runs/$name/ckpt
  [ -f runs/$name/ckpt/ckpt-000000469.h5 ] || { echo "FAIL: the epoch-1 checkpoint is gone"; exit 1; }
  [ ! -e runs/$name/ckpt/ckpt-000000938.h5 ] || { echo "FAIL: a half-written checkpoint has the real name"; exit 1; }
  ls runs/$name/ckpt | grep -q '^ckpt-000000938.h5.tmp-' || { echo "FAIL: no temporary file: the kill came elsewhere"; exit 1; }
}

run straight 2
killed killed
run killed 2 --resume
grep -q "resumed from runs/killed/ckpt/ckpt-000000469.h5 at step 469, epoch 2" killed.txt || { cat killed.txt; exit 1; }

nodrop=(--set model.layers.3.p=0)
run straight_nodrop 2 "${nodrop[@]}"
killed killed_nodrop "${nodrop[@]}"
# The 1-rank resume reads the 2-rank checkpoint: same config, batch 128 on one rank.
timeout 900 "$tessera" train "$config" "${small[@]}" "${nodrop[@]}" --set batch_size=128 --set log_dir=runs/killed_nodrop \
  --set checkpoint.dir=runs/killed_nodrop/ckpt --resume > one_rank.txt 2>&1 || { cat one_rank.txt; exit 1; }
grep -q "ranks 1, batch 128 per rank, 469 steps per epoch" one_rank.txt

"$TESSERA_PYTHON" - <<'PY'
import h5py, numpy as np
def params(path):
    with h5py.File(path, "r") as f:
        return {k: f["model"][k][()] for k in f["model"]}
straight, resumed = params("runs/straight/ckpt/ckpt-000000938.h5"), params("runs/killed/ckpt/ckpt-000000938.h5")
assert straight.keys() == resumed.keys()
for k in straight:
    assert np.array_equal(straight[k], resumed[k]), f"{k}: resumed differs from straight by {np.abs(straight[k] - resumed[k]).max()}"
print("same world size: bitwise equal")
a, b = params("runs/straight_nodrop/ckpt/ckpt-000000938.h5"), params("runs/killed_nodrop/ckpt/ckpt-000000938.h5")
worst = max(float(np.abs(a[k] - b[k]).max() / max(1e-12, np.abs(a[k]).max())) for k in a if a[k].dtype.kind == "f")
print(f"resumed on 1 rank: largest relative difference {worst:.2e}")
assert worst <= 1e-5, worst
PY
echo "kill and resume OK"
