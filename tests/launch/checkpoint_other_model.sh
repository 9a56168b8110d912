#!/usr/bin/env bash
# A checkpoint that does not fit the config's model (another model's, or the config's layers changed since) fails
# naming the checkpoint file and the tensors, in evaluate, predict, export, --resume-from and --resume. The file used
# to go unnamed ("load_state_dict: error(s) loading the state dict of Sequential: size mismatch ..."): with --resume,
# which picks the newest file itself, the message said nothing of which checkpoint was read.
set -uo pipefail
tessera=$1
source "$TESSERA_SOURCE_DIR/tests/launch/lib/failing_job.sh"
source "$TESSERA_SOURCE_DIR/tests/launch/lib/tiny_job.sh"
make_tiny_job
timeout 120 "$tessera" train tiny.json --progress lines >train.txt 2>&1 || { cat train.txt; echo "FAIL: training"; exit 1; }
ckpt=runs/ckpt/ckpt-000000032.h5
[ -f "$ckpt" ] || { ls runs/ckpt; echo "FAIL: no $ckpt"; exit 1; }
wider=(--set model.layers.0.out_features=48)
for command in "evaluate tiny.json --checkpoint $ckpt" "predict tiny.json --checkpoint $ckpt --out p.h5"; do
  run_failing_job "$tessera" $command "${wider[@]}"
  expect_output "checkpoint '$ckpt' does not fit the config's model" "size mismatch for \"0.weight\""
done
run_failing_job "$tessera" train tiny.json --resume-from "$ckpt" --set epochs=2 "${wider[@]}"
expect_output "cannot resume from checkpoint '$ckpt'" "size mismatch for \"0.weight\""
run_failing_job "$tessera" train tiny.json --resume --set epochs=2 "${wider[@]}"
expect_output "cannot resume from checkpoint '$ckpt'" "size mismatch for \"0.weight\""
echo "checkpoint_other_model: OK"
