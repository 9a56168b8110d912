#!/usr/bin/env bash
# --resume after --resume-from an older checkpoint continues the resumed run, not the timeline it replaced. A 3-epoch
# run leaves ckpt-32, -64, -96; --resume-from ckpt-32 with a new optimizer.lr writes a new ckpt-64 and is killed
# writing ckpt-96. Its old ckpt-96 stayed the folder's newest file, so --resume took it: the run went on from the
# abandoned timeline (the old rate's weights) and the new ckpt-64 was silently dropped.
set -uo pipefail
tessera=$1
source "$TESSERA_SOURCE_DIR/tests/launch/lib/tiny_job.sh"
make_tiny_job
args=(--set epochs=3 --progress lines)
"$tessera" train tiny.json "${args[@]}" > first.txt 2>&1 || { cat first.txt; exit 1; }
TESSERA_FAULT_KILL_AT_CHECKPOINT=96 "$tessera" train tiny.json "${args[@]}" --set optimizer.lr=0.001 \
  --resume-from runs/ckpt/ckpt-000000032.h5 > again.txt 2>&1
grep -q "resumed from runs/ckpt/ckpt-000000032.h5 at step 32, epoch 2" again.txt || { cat again.txt; exit 1; }
[ -f runs/ckpt/ckpt-000000096.h5.superseded ] || { ls runs/ckpt; echo "FAIL: the old ckpt-96 was not set aside"; exit 1; }
"$tessera" train tiny.json "${args[@]}" --set optimizer.lr=0.001 --resume > resumed.txt 2>&1 ||
  { cat resumed.txt; exit 1; }
grep -q "resumed from runs/ckpt/ckpt-000000064.h5 at step 64, epoch 3" resumed.txt ||
  { grep resumed resumed.txt; echo "FAIL: --resume did not continue the run resumed with --resume-from"; exit 1; }
"$TESSERA_PYTHON" -c 'import json, h5py
c = json.loads(h5py.File("runs/ckpt/ckpt-000000096.h5", "r").attrs["meta"])["config"]
assert c["optimizer"]["lr"] == 0.001, c["optimizer"]' || exit 1
echo "--resume after --resume-from an older checkpoint OK"
