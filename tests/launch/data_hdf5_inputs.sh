#!/usr/bin/env bash
# HDF5 files as other writers leave them, through the command line (the loader's side of these and of lzf, enums,
# text labels, a 'classes' array, u64 labels and a file named a[1].h5 is in tests/io: test_loader.cpp,
# test_loader_errors.cpp, test_loader_labels.cpp, test_inspect.cpp). Files are written here by h5py.
# - `tessera data inspect` on a file holding a variable-length string, a compound and a fixed-length string dataset
#   beside numbers prints every dataset, the strings as "variable-length string" and "string (3 bytes)" (the first
#   non-numeric dataset ended it with an error), and lists datasets reached through h5py.ExternalLinks (none were).
# - A file in HDF5's latest format held open by a live SWMR writer (h5py libver="latest", swmr_mode=True) is read as
#   a SWMR reader (it failed "corrupt or truncated?"): inspect lists it, and `tessera predict` on it gives bitwise the
#   predictions of the same arrays in a closed file, and numpy's forward of the checkpoint on h5py's values.
# - The same kind of file whose writer died holding it (os._exit) fails naming `h5clear -s FILE`, not as corrupt, and
#   reads once `h5clear -s` has cleared the mark (where hdf5-tools' h5clear is installed).
set -euo pipefail
tessera=$1
source "$TESSERA_SOURCE_DIR/tests/launch/lib/dependencies.sh"
"$TESSERA_PYTHON" -c "import h5py, sys; sys.exit(h5py.version.hdf5_version_tuple < (1, 10))" 2>/dev/null ||
  missing_dependency "$TESSERA_PYTHON has no h5py with SWMR (HDF5 1.10 or later)"
source "$TESSERA_SOURCE_DIR/tests/launch/lib/tiny_job.sh"

# must_fail NAME TEXT COMMAND...: the command must exit non-zero on its own (not by timeout) with TEXT in its output.
must_fail() {
  local name=$1 expected=$2 status=0
  shift 2
  timeout 120 "$@" >"$name.txt" 2>&1 || status=$?
  cat "$name.txt"
  [ "$status" -ne 0 ] || { echo "FAIL: $name: exited 0"; exit 1; }
  [ "$status" -ne 124 ] || { echo "FAIL: $name: hung until timeout 120"; exit 1; }
  grep -qF -- "$expected" "$name.txt" || { echo "FAIL: $name: no '$expected' in its output"; exit 1; }
}
# expect_line FILE TEXT...: each TEXT is a line of FILE (fixed strings).
expect_line() {
  local file=$1 line
  shift
  for line in "$@"; do grep -qxF -- "$line" "$file" || { cat "$file"; echo "FAIL: $file lacks the line '$line'"; exit 1; }; done
}

"$TESSERA_PYTHON" - <<'PY'
import h5py, numpy as np
rng = np.random.default_rng(11)
with h5py.File("text.h5", "w") as f:
    f["names"] = np.array(["cat", "dog"], dtype=h5py.string_dtype())
    f["table"] = np.array([(k, 0.5) for k in range(6)], dtype=[("label", "i8"), ("weight", "f4")])
    f["x"] = rng.normal(size=(6, 4)).astype(np.float32)
    f["y"] = np.array([b"cat", b"dog"] * 3)
with h5py.File("target.h5", "w") as f:
    f["data/x"] = rng.normal(size=(6, 4)).astype(np.float32)
    f["data/y"] = np.arange(6)
with h5py.File("linked.h5", "w") as f:
    f["x"] = h5py.ExternalLink("target.h5", "data/x")
    f["y"] = h5py.ExternalLink("target.h5", "data/y")
PY

timeout 120 "$tessera" data inspect text.h5 linked.h5 >inspect.txt 2>&1 ||
  { cat inspect.txt; echo "FAIL: inspect of a file holding strings and compounds"; exit 1; }
cat inspect.txt
expect_line inspect.txt "  names  shape [2]  variable-length string  contiguous  filters none" \
  "  table  shape [6]  compound (12 bytes)  contiguous  filters none" \
  "  x  shape [6, 4]  f32  contiguous  filters none" "  y  shape [6]  string (3 bytes)  contiguous  filters none"
[ "$(sed -n '/^linked.h5$/,$p' inspect.txt)" = "linked.h5
  x  shape [6, 4]  f32  contiguous  filters none
  y  shape [6]  i64  contiguous  filters none" ] || { echo "FAIL: linked.h5's external links not listed as x and y"; exit 1; }

# A checkpoint to predict with, and its data's first 100 rows as a SWMR writer holds them and in a closed file.
make_tiny_job
timeout 120 "$tessera" train tiny.json --progress lines >train.txt 2>&1 || { cat train.txt; exit 1; }
checkpoint=$(ls runs/ckpt/ckpt-*.h5 | tail -n 1)
cat >writer.py <<'PY'
# writer.py MODE FILE: writes data/test.h5's first 100 rows to FILE in HDF5's latest format. swmr: switches to SWMR
# writing, touches FILE.ready and holds the file open until FILE.done appears (60 s at most); died: exits without
# closing the file, as a killed writer does.
import os, sys, time
import h5py
mode, name = sys.argv[1:]
with h5py.File("data/test.h5", "r") as source:
    x, y = source["x"][:100], source["y"][:100]
f = h5py.File(name, "w", libver="latest")
f["x"], f["y"] = x, y
if mode == "swmr":
    f.swmr_mode = True
f.flush()
if mode == "died":
    os._exit(0)
open(name + ".ready", "w").close()
for _ in range(600):
    if os.path.exists(name + ".done"):
        break
    time.sleep(0.1)
f.close()
PY
"$TESSERA_PYTHON" -c "
import h5py
with h5py.File('data/test.h5', 'r') as source, h5py.File('closed.h5', 'w') as f:
    f['x'], f['y'] = source['x'][:100], source['y'][:100]"

timeout 60 "$TESSERA_PYTHON" writer.py swmr swmr.h5 &
writer=$!
trap 'kill "$writer" 2>/dev/null || true' EXIT
for _ in $(seq 300); do [ -e swmr.h5.ready ] && break; sleep 0.1; done
[ -e swmr.h5.ready ] || { echo "FAIL: the SWMR writer did not start within 30 s"; exit 1; }
timeout 120 "$tessera" data inspect swmr.h5 >swmr_inspect.txt 2>&1 ||
  { cat swmr_inspect.txt; echo "FAIL: inspect of a file a SWMR writer holds"; exit 1; }
cat swmr_inspect.txt
expect_line swmr_inspect.txt "  x  shape [100, 16]  f32  contiguous  filters none"
for data in swmr closed; do
  timeout 120 "$tessera" predict tiny.json --checkpoint "$checkpoint" --out "predicted_$data.h5" --data "$data.h5" \
    >"predict_$data.txt" 2>&1 || { cat "predict_$data.txt"; echo "FAIL: predict on $data.h5"; exit 1; }
done
kill -0 "$writer" || { echo "FAIL: the SWMR writer was gone before the reads ended"; exit 1; }
"$TESSERA_PYTHON" - "$checkpoint" <<'PY'
import sys
import h5py, numpy as np
with h5py.File(sys.argv[1], "r") as f:
    w = {name: f["model"][name][...].astype(np.float64) for name in f["model"]}
with h5py.File("swmr.h5", "r", swmr=True) as f:  # h5py's values, read as a SWMR reader while the writer holds it
    x = f["x"][...].astype(np.float64)
expected = np.maximum(x @ w["0.weight"].T + w["0.bias"], 0) @ w["2.weight"].T + w["2.bias"]
with h5py.File("predicted_swmr.h5", "r") as a, h5py.File("predicted_closed.h5", "r") as b:
    got = a["outputs"][...]
    assert got.shape == (100, 4), got.shape
    assert np.array_equal(got, b["outputs"][...]), "the SWMR file's predictions differ from the closed file's"
error = np.abs(got - expected).max()
assert error < 1e-4 * max(1.0, np.abs(expected).max()), f"predictions differ from numpy's forward by {error}"
print(f"SWMR read: 100 predictions bitwise equal to the closed file's, within {error:.2g} of numpy's forward")
PY
touch swmr.h5.done
wait "$writer" || { echo "FAIL: the SWMR writer failed"; exit 1; }
trap - EXIT

# A writer that died holding its latest-format file open.
timeout 60 "$TESSERA_PYTHON" writer.py died died.h5
must_fail died "\`h5clear -s FILE\` clears the mark" "$tessera" data inspect died.h5
! grep -q "corrupt" died.txt || { echo "FAIL: a file whose writer died is called corrupt"; exit 1; }
if command -v h5clear >/dev/null; then
  h5clear -s died.h5
  timeout 120 "$tessera" data inspect died.h5 >cleared.txt 2>&1 || { cat cleared.txt; echo "FAIL: inspect after h5clear -s"; exit 1; }
  cat cleared.txt
  expect_line cleared.txt "  x  shape [100, 16]  f32  contiguous  filters none"
else
  echo "no h5clear (hdf5-tools) here: clearing the mark not tried"
fi
echo "HDF5 inputs OK"
