#!/usr/bin/env bash
# A flipped bit in a checkpoint's root attributes (here a digit of the RNG offset inside meta) is caught like one in
# a tensor: --resume says so and falls back to the previous checkpoint. The tensors' CRC32Cs did not cover the
# attributes, so such a file loaded silently with another RNG state (or loader position, step, epoch, best score).
set -uo pipefail
tessera=$1
source "$TESSERA_SOURCE_DIR/tests/launch/lib/tiny_job.sh"
make_tiny_job
"$tessera" train tiny.json --set epochs=2 --progress lines > first.txt 2>&1 || { cat first.txt; exit 1; }
"$TESSERA_PYTHON" - runs/ckpt/ckpt-000000064.h5 <<'PY' || exit 1
import sys
path = sys.argv[1]
data = bytearray(open(path, "rb").read())
at = data.find(b'"rng":"philox ')
assert at >= 0 and data.count(b'"rng":"philox ') == 1, "the meta text is not stored once, contiguously"
digit = data.index(b" ", at + len(b'"rng":"philox ')) + 1  # the offset's first digit
data[digit] ^= 0x01  # one bit: another digit
open(path, "wb").write(data)
print(f"flipped a bit of the RNG offset in {path}")
PY
"$tessera" train tiny.json --set epochs=3 --progress lines --resume > resumed.txt 2>&1 || { cat resumed.txt; exit 1; }
grep -q "not resuming from runs/ckpt/ckpt-000000064.h5: .*attributes.*fail their CRC32C check" resumed.txt ||
  { grep -E "resum" resumed.txt; echo "FAIL: the corrupted attributes were not detected"; exit 1; }
grep -q "resumed from runs/ckpt/ckpt-000000032.h5 at step 32, epoch 2" resumed.txt || { cat resumed.txt; exit 1; }
echo "corrupted checkpoint attributes refused OK"
