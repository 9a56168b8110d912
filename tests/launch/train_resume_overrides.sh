#!/usr/bin/env bash
# --resume with --set overrides (issue 14, item 9). The rule: the config decides the settings, the checkpoint the
# state. Every setting that differs from the checkpoint's recorded config is printed as "override on resume: key
# old -> new" and takes effect: a new optimizer.lr reaches the optimizer and the schedule's base rate (before the
# fix the checkpoint's rate came back silently). optimizer.type, schedule.type and seed cannot change on resume:
# an error names the key.
set -uo pipefail
tessera=$1
source "$TESSERA_SOURCE_DIR/tests/launch/lib/failing_job.sh"
source "$TESSERA_SOURCE_DIR/tests/launch/lib/tiny_job.sh"
make_tiny_job
rates() {  # rates FILE: the optimizer's options.lr and the schedule's base_lr stored in a checkpoint
  "$TESSERA_PYTHON" -c 'import sys, h5py
f = h5py.File(sys.argv[1], "r")
print(f["optimizer/options.lr"][()], f["scheduler/base_lr"][()] if "scheduler" in f else "-")' "$1"
}
step=(--set schedule.type=step --set schedule.step_size=1000 --set schedule.gamma=0.5 --progress lines)
"$tessera" train tiny.json "${step[@]}" > first.txt 2>&1 || { cat first.txt; exit 1; }
[ "$(rates runs/ckpt/ckpt-000000032.h5)" = "0.01 0.01" ] || { rates runs/ckpt/ckpt-000000032.h5; exit 1; }

"$tessera" train tiny.json "${step[@]}" --resume --set epochs=2 --set optimizer.lr=0.05 --set optimizer.weight_decay=0 \
  > resumed.txt 2>&1 || { cat resumed.txt; exit 1; }
grep -q "lr: 0.05" resumed.txt || { echo "FAIL: epoch 2 did not train at the new rate"; exit 1; }
[ "$(rates runs/ckpt/ckpt-000000064.h5)" = "0.05 0.05" ] || { rates runs/ckpt/ckpt-000000064.h5; exit 1; }
grep "override on resume" resumed.txt
for line in "override on resume: epochs 1 -> 2" "override on resume: optimizer.lr 0.01 -> 0.05" \
  "override on resume: optimizer.weight_decay 0.01 -> 0.0"; do
  grep -qxF "$line" resumed.txt || { echo "FAIL: no line '$line'"; exit 1; }
done
[ "$(grep -c "override on resume" resumed.txt)" -eq 3 ] || { echo "FAIL: unchanged settings reported"; exit 1; }
"$TESSERA_PYTHON" -c 'import json, h5py
c = json.loads(h5py.File("runs/ckpt/ckpt-000000064.h5", "r").attrs["meta"])["config"]
assert c["optimizer"]["lr"] == 0.05 and c["optimizer"]["weight_decay"] == 0, c["optimizer"]' || exit 1

for key in optimizer.type schedule.type seed; do
  case $key in
    optimizer.type) change=(--set optimizer.type=sgd) ;;
    schedule.type) change=(--set 'schedule={"type": "cosine"}' --progress lines) ;;  # without the step keys
    seed) change=(--set seed=7) ;;
  esac
  [ "$key" = schedule.type ] || change+=("${step[@]}")
  run_failing_job "$tessera" train tiny.json --resume --set epochs=3 "${change[@]}"
  expect_output "train --resume: $key cannot change on resume"
  ! grep -q "^Epoch" out.txt || { echo "FAIL: trained after refusing $key"; exit 1; }
done
echo "overrides on resume OK"
