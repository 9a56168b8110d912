#!/usr/bin/env bash
# A flipped bit in the newest checkpoint (issue 14, item 4). Every tensor carries its CRC32C, so: --resume says it
# does not resume from the corrupt file (naming it and the tensor), falls back to the previous checkpoint, keeps
# the corrupt file as <file>.corrupt, prunes nothing good and completes; --resume-from the corrupt file fails
# naming it; --resume-from a good file resumes exactly that one. Before the fix the corrupt weight (~1e37, finite)
# loaded silently and the resumed run continued from it.
set -euo pipefail
tessera=$1
source "$TESSERA_SOURCE_DIR/tests/launch/lib/tiny_job.sh"
make_tiny_job
ckpt=runs/ckpt
run() { local log=$1; shift; "$tessera" train tiny.json --progress lines "$@" > "$log" 2>&1; }
run first.txt --set epochs=2 || { cat first.txt; exit 1; }
flip_bit "$ckpt/ckpt-000000064.h5"

if run corrupt_from.txt --resume-from "$ckpt/ckpt-000000064.h5" --set epochs=3; then
  cat corrupt_from.txt; echo "FAIL: --resume-from a corrupt checkpoint succeeded"; exit 1
fi
grep -q "checkpoint '$ckpt/ckpt-000000064.h5': tensor model/0.weight fails its CRC32C check" corrupt_from.txt \
  || { cat corrupt_from.txt; echo "FAIL: the error does not name the file and tensor"; exit 1; }

run resumed.txt --resume --set epochs=3 || { cat resumed.txt; exit 1; }
grep -E "not resuming|resumed from|^Epoch" resumed.txt
grep -q "not resuming from $ckpt/ckpt-000000064.h5: .*tensor model/0.weight fails its CRC32C check.*falling back" \
  resumed.txt || { echo "FAIL: no fallback message naming the corrupt file"; exit 1; }
grep -q "resumed from $ckpt/ckpt-000000032.h5 at step 32, epoch 2" resumed.txt
grep -q "^test:" resumed.txt  # the run completed
test -f "$ckpt/ckpt-000000064.h5.corrupt" || { ls "$ckpt"; echo "FAIL: the corrupt file was deleted"; exit 1; }
for step in 032 064 096; do
  test -f "$ckpt/ckpt-000000$step.h5" || { ls "$ckpt"; echo "FAIL: ckpt step $step missing"; exit 1; }
done

# A good file: resumed exactly; the later ckpt-96 is neither pruned nor left as the folder's newest checkpoint (a
# later --resume would go back to it): it is kept as ckpt-96.h5.superseded (train_resume_from_older.sh).
run good_from.txt --resume-from "$ckpt/ckpt-000000032.h5" --set epochs=2 || { cat good_from.txt; exit 1; }
grep -q "resumed from $ckpt/ckpt-000000032.h5 at step 32, epoch 2" good_from.txt
test -f "$ckpt/ckpt-000000096.h5.superseded" || { ls "$ckpt"; echo "FAIL: a later checkpoint was not kept"; exit 1; }
"$tessera" evaluate tiny.json --checkpoint "$ckpt/ckpt-000000096.h5.superseded" | grep "^test:"
echo "resume past a corrupt checkpoint OK"
