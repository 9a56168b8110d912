#!/usr/bin/env bash
# EarlyStopping with restore_best_weights goes back to the best epoch's weights when it stops, also in a run resumed
# after that epoch: the weights are in the checkpoint beside its best and wait. min_delta 1 makes epoch 1 the only
# improvement, so both runs stop after epoch 3 and the test set is evaluated with epoch 1's weights. Before, the
# resumed run had no best weights, skipped the restore without a word and evaluated epoch 3's weights.
set -uo pipefail
tessera=$1
source "$TESSERA_SOURCE_DIR/tests/launch/lib/tiny_job.sh"
make_tiny_job
args=(--set epochs=5 --progress lines --set 'callbacks={"early_stopping": {"monitor": "val_loss", "min_delta": 1.0,
      "patience": 2, "restore_best_weights": true}}')
"$tessera" train tiny.json "${args[@]}" --set checkpoint.dir=runs/straight > straight.txt 2>&1 ||
  { cat straight.txt; exit 1; }
TESSERA_FAULT_KILL_AT_CHECKPOINT=64 "$tessera" train tiny.json "${args[@]}" > killed.txt 2>&1
[ -f runs/ckpt/ckpt-000000064.h5.tmp-* ] || { cat killed.txt; echo "FAIL: the kill came elsewhere"; exit 1; }
"$tessera" train tiny.json "${args[@]}" --resume > resumed.txt 2>&1 || { cat resumed.txt; exit 1; }
grep -q "resumed from runs/ckpt/ckpt-000000032.h5 at step 32, epoch 2" resumed.txt || { cat resumed.txt; exit 1; }
for log in straight.txt resumed.txt; do
  grep -q "EarlyStopping: val_loss did not improve for 2 epochs; stopped after epoch 3" $log || { cat $log; exit 1; }
done
grep -q '^test:' straight.txt && [ "$(grep '^test:' straight.txt)" = "$(grep '^test:' resumed.txt)" ] ||
  { grep '^test:' straight.txt resumed.txt; echo "FAIL: the resumed run did not go back to the best weights"; exit 1; }
"$tessera" evaluate tiny.json --checkpoint runs/straight/ckpt-000000032.h5 > epoch1.txt 2>&1 || { cat epoch1.txt; exit 1; }
grep -q '^test:' epoch1.txt && [ "$(grep '^test:' epoch1.txt)" = "$(grep '^test:' resumed.txt)" ] || { echo "FAIL: not epoch 1's weights"; exit 1; }
echo "restore_best_weights across a resume OK"
