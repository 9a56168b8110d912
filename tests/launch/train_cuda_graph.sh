#!/usr/bin/env bash
# "cuda_graph": true end to end on a GPU: `tessera train` replays its steps as a CUDA graph. A step the graph cannot
# take runs eagerly with the same result, so only the count the run prints shows the graph was used (the Loader's
# validity mask once sent every step down the eager path, unnoticed). The graphed run must also train as the eager
# one does: the same accuracy within rounding. Skipped (77) without a GPU or without the CUDA path; on CI the graph
# itself is tested through Model::fit on the test device and the CPU build of the CUDA backend (core.Graph.*).
set -euo pipefail
tessera=$1
gpus=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU' || true)
if [ "$gpus" -eq 0 ] || ! "$tessera" --version | grep -q "CUDA path built"; then
  echo "SKIP: no GPU, or a build without the CUDA path"; exit 77
fi
source "$TESSERA_SOURCE_DIR/tests/launch/lib/tiny_job.sh"
make_tiny_job
run() {  # run NAME [args...]: one rank (cuda_graph refuses data parallelism)
  local name=$1; shift
  timeout 120 "$tessera" train tiny.json --progress lines --set device=cuda --set epochs=2 \
    --set checkpoint.dir=runs/$name "$@" > "$name.txt" 2>&1 || { cat "$name.txt"; return 1; }
}
run eager
run graphed --set cuda_graph=true
# 2 epochs of 32 steps: 2 warm-up steps run eagerly, then every step of the same shape replays.
grep -q "^cuda_graph: 62 steps replayed" graphed.txt || { cat graphed.txt; echo "FAIL: the steps were not replayed"; exit 1; }
accuracy() { sed -n 's/^test: loss [0-9.]* accuracy \([0-9.]*\) .*/\1/p' "$1"; }
a=$(accuracy eager.txt) b=$(accuracy graphed.txt)
[ -n "$a" ] && [ -n "$b" ] || { cat eager.txt graphed.txt; echo "FAIL: no test accuracy"; exit 1; }
"$TESSERA_PYTHON" -c "import sys; a, b = $a, $b; sys.exit(0 if abs(a - b) <= 0.01 else 1)" ||
  { echo "FAIL: test accuracy $b with cuda_graph against $a eager"; exit 1; }
echo "OK: cuda_graph replayed 62 steps; test accuracy $b against $a eager"
