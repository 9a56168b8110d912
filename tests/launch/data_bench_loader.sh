#!/usr/bin/env bash
# Smoke run of `tessera bench loader` (one repeat, one epoch, 1 and 2 ranks): every case reports a positive rate
# for Tessera and for the h5py peer, and the JSON and Markdown reports are written. No timing is asserted.
set -euo pipefail
tessera=$1
source "$TESSERA_SOURCE_DIR/tests/launch/lib/dependencies.sh"
require_fashion_mnist
"$tessera" bench loader --data "$PWD/data" --repeats 1 --epochs 1 --ranks 1,2 --cnn-seconds 0.5 \
  --mpirun "timeout 120 $MPIRUN" --python "$TESSERA_PYTHON" --json loader.json --md loader.md
"$TESSERA_PYTHON" - <<'PY'
import json
result = json.load(open("loader.json"))
cases = result["cases"]
assert len(cases) == 8, len(cases)
assert {(c["compression"], c["order"], c["ranks"]) for c in cases} == {
    (z, o, r) for z in ("gzip", "none") for o in ("sequential", "shuffled") for r in (1, 2)}
for c in cases:
    assert c["tessera_samples_per_s"] > 0 and c["h5py_samples_per_s"] > 0, c
assert result["cnn_samples_per_s"] > 0
print("bench loader smoke: OK")
PY
grep -q "| gzip | shuffled | 2 |" loader.md
