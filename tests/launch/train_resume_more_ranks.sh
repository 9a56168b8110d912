#!/usr/bin/env bash
# Resume on more ranks (issue 14, item 6): a 1-rank run checkpoints the end of epoch 1 (938 steps of 64); resumed
# on 2 ranks for 3 epochs it must train epochs 2 and 3 (469 steps each), not stop early because its step count
# already looks like the 2-rank plan's.
set -euo pipefail
tessera=$1
source "$TESSERA_SOURCE_DIR/tests/launch/lib/dependencies.sh"
require_fashion_mnist
"$tessera" data fashion-mnist --out data/fmnist --shards 2 >/dev/null
config=$TESSERA_SOURCE_DIR/configs/fashion_mnist_mlp.json
small=(--set model.layers.1.out_features=32 --set model.layers.4.out_features=16 --progress lines
       --set log_dir=runs/grow --set checkpoint.dir=runs/grow/ckpt)
timeout 900 "$tessera" train "$config" "${small[@]}" --set epochs=1 > one_rank.txt 2>&1 || { cat one_rank.txt; exit 1; }
[ -f runs/grow/ckpt/ckpt-000000938.h5 ] || { ls runs/grow/ckpt; echo "FAIL: no epoch-1 checkpoint"; exit 1; }
timeout 900 $MPIRUN -n 2 "$tessera" train "$config" "${small[@]}" --set epochs=3 --resume > two_ranks.txt 2>&1 ||
  { cat two_ranks.txt; exit 1; }
grep -q "resumed from runs/grow/ckpt/ckpt-000000938.h5 at step 938, epoch 2" two_ranks.txt || { cat two_ranks.txt; exit 1; }
for epoch in 2 3; do
  grep -q "^Epoch $epoch/3" two_ranks.txt || { cat two_ranks.txt; echo "FAIL: epoch $epoch was not trained"; exit 1; }
done
[ -f runs/grow/ckpt/ckpt-000001876.h5 ] || { ls runs/grow/ckpt; echo "FAIL: no checkpoint after epoch 3 (step 938 + 2 x 469)"; exit 1; }
echo "resume on more ranks OK"
