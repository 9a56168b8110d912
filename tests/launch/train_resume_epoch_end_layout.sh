#!/usr/bin/env bash
# A run's last checkpoint is taken at the end of an epoch, so it resumes with another batch size or other data files
# as an epoch-end checkpoint at another world size does. It records the loader at (epoch, its last batch), which was
# restored as is at the same world size and then refused as "inside epoch 1 (after batch 32)".
set -uo pipefail
tessera=$1
source "$TESSERA_SOURCE_DIR/tests/launch/lib/tiny_job.sh"
make_tiny_job
"$tessera" train tiny.json --progress lines > first.txt 2>&1 || { cat first.txt; exit 1; }
"$tessera" train tiny.json --progress lines --resume --set epochs=2 --set batch_size=64 > resumed.txt 2>&1 ||
  { cat resumed.txt; echo "FAIL: an epoch-end checkpoint refused a new batch size"; exit 1; }
grep -q "resumed from runs/ckpt/ckpt-000000032.h5 at step 32, epoch 2" resumed.txt || { cat resumed.txt; exit 1; }
[ -f runs/ckpt/ckpt-000000048.h5 ] || { ls runs/ckpt; echo "FAIL: epoch 2 did not take 16 steps of 64"; exit 1; }
echo "epoch-end checkpoint with a new batch size OK"
