#!/usr/bin/env bash
# `tessera data from-npy` end to end, checked with h5py against the arrays NumPy wrote: X.npy Y.npy and a .npz
# (np.savez_compressed, deflated, with a big-endian y) give the same values, dtypes and shapes; a seeded
# --test-fraction split has the asked sizes, train + test together are exactly the input rows (by the `index`
# dataset and by value), the same seed gives the same split and another seed another; --layout nhwc is written as
# x's layout attribute; bool labels become u8; np.savez's stored (not deflated) archive reads as well. Bad input:
# a Fortran-ordered array, a truncated file, rows that differ between x and y, a missing .npz key, float16, a bad
# --test-fraction and --layout on a rank-2 x each fail naming the file or flag, and leave no output folder. A write
# that fails (the file-size limit reached, as on a full disk) ends with exit 1 and one error naming the shard and
# the reason, not a crash in HDF5's exit cleanup (139), and leaves no shard, truncated, under its final name. Last,
# a 256 MiB array converts with a peak resident size well under its own.
set -euo pipefail
tessera=$1

"$TESSERA_PYTHON" - <<'PY'
import numpy as np
rng = np.random.default_rng(7)
x = rng.normal(size=(103, 6, 5, 3)).astype(np.float32)
y = rng.integers(0, 4, 103).astype(np.int64)
np.save("x.npy", x)
np.save("y.npy", y)
np.savez_compressed("both.npz", images=rng.integers(0, 256, (40, 2, 3), dtype=np.uint8), labels=(np.arange(40) % 5).astype(">i4"))
np.savez("stored.npz", x=x[:20], y=y[:20])  # stored, not deflated
np.save("u16.npy", rng.integers(0, 60000, (40, 7), dtype=np.uint16))
np.save("flags.npy", np.arange(40) % 3 == 0)
np.save("fortran.npy", np.asfortranarray(rng.normal(size=(10, 4))))
np.save("short_y.npy", y[:50])
np.save("f16.npy", x[:5].astype(np.float16))
with open("x.npy", "rb") as f: data = f.read()
with open("truncated.npy", "wb") as f: f.write(data[:-10])
PY

"$tessera" data from-npy x.npy y.npy --out split --shards 2 --test-fraction 0.25 --seed 3 --layout nhwc | tee split.txt
"$tessera" data from-npy x.npy y.npy --out same --test-fraction 0.25 --seed 3 >/dev/null
"$tessera" data from-npy x.npy y.npy --out other --test-fraction 0.25 --seed 4 >/dev/null
"$tessera" data from-npy both.npz --x-key images --y-key labels --out npz --compression none >/dev/null
"$tessera" data from-npy u16.npy flags.npy --out mixed --chunk-rows 8 >/dev/null
"$tessera" data from-npy stored.npz --out stored >/dev/null
"$tessera" data inspect split/train-00000-of-00002.h5 | tee inspect.txt
grep -q "x  shape \[38, 6, 5, 3\]  f32  chunked \[38, 6, 5, 3\]  filters shuffle,gzip(4)" inspect.txt
grep -q "@layout = N,H,W,C" inspect.txt

"$TESSERA_PYTHON" - <<'PY'
import glob
import h5py, numpy as np

def read(folder, split):
    files = sorted(glob.glob(f"{folder}/{split}-*.h5"))
    arrays = {}
    for path in files:
        with h5py.File(path, "r") as f:
            for name in ("x", "y", "index"):
                arrays.setdefault(name, []).append(f[name][...])
            assert f.attrs["split"] == split and f.attrs["num_shards"] == len(files), path
            layout = f["x"].attrs.get("layout")
    return {k: np.concatenate(v) for k, v in arrays.items()}, files, layout

x, y = np.load("x.npy"), np.load("y.npy")
train, train_files, layout = read("split", "train")
test, test_files, _ = read("split", "test")
assert len(train_files) == 2 and len(test_files) == 2, (train_files, test_files)
assert layout == "N,H,W,C", layout
assert len(test["y"]) == round(103 * 0.25) == 26 and len(train["y"]) == 77, (len(train["y"]), len(test["y"]))
rows = np.concatenate([train["index"], test["index"]])
assert np.array_equal(np.sort(rows), np.arange(103)), "train + test are not exactly the input rows"
for part in (train, test):
    assert part["x"].dtype == np.float32 and part["y"].dtype == np.int64
    assert np.array_equal(part["x"], x[part["index"]]) and np.array_equal(part["y"], y[part["index"]])
    assert np.all(np.diff(part["index"]) > 0), "a split is not in source order"
assert not np.array_equal(test["index"], np.arange(26)), "the test split is not drawn at random"
same, _, _ = read("same", "test")
other, _, _ = read("other", "test")
assert np.array_equal(same["index"], test["index"]), "the same seed gave another split"
assert not np.array_equal(other["index"], test["index"]), "another seed gave the same split"

npz = np.load("both.npz")
got, files, _ = read("npz", "train")
assert len(files) == 1
assert got["x"].dtype == np.uint8 and np.array_equal(got["x"], npz["images"])
assert got["y"].dtype == np.int32 and np.array_equal(got["y"], npz["labels"].astype(np.int32)), "big-endian labels"
with h5py.File(files[0], "r") as f:
    assert f["x"].compression is None

mixed, _, _ = read("mixed", "train")
assert mixed["x"].dtype == np.uint16 and np.array_equal(mixed["x"], np.load("u16.npy"))
assert mixed["y"].dtype == np.uint8 and np.array_equal(mixed["y"], np.load("flags.npy").astype(np.uint8))
stored, _, _ = read("stored", "train")
assert np.array_equal(stored["x"], x[:20]) and np.array_equal(stored["y"], y[:20])
print("from-npy: values, dtypes, shapes, split sizes and rows match NumPy's arrays")
PY

fails() {  # fails "expected text" -- command...
  local expected=$1; shift 2
  if "$@" 2>err.txt >/dev/null; then echo "FAIL: accepted: $*"; exit 1; fi
  grep -qF -- "$expected" err.txt || { echo "FAIL: $* said:"; cat err.txt; echo "expected: $expected"; exit 1; }
}
fails "'fortran.npy' is stored in Fortran order" -- "$tessera" data from-npy fortran.npy y.npy --out bad
fails "'truncated.npy' holds 37070 bytes of data but its header (<f4, shape [103, 6, 5, 3]) says 37080" -- \
  "$tessera" data from-npy truncated.npy y.npy --out bad
fails "x ('x.npy', shape [103, 6, 5, 3]) and y ('short_y.npy', shape [50]) must have the same number of rows" -- \
  "$tessera" data from-npy x.npy short_y.npy --out bad
fails "'both.npz' has no array 'x' (it holds 'images', 'labels')" -- "$tessera" data from-npy both.npz --out bad
fails "'f16.npy' holds elements of NumPy type '<f2'" -- "$tessera" data from-npy f16.npy y.npy --out bad
fails "--test-fraction must be in [0, 1), got 1.5" -- "$tessera" data from-npy x.npy y.npy --out bad --test-fraction 1.5
fails "--layout nhwc describes images stored as rank 4" -- "$tessera" data from-npy u16.npy flags.npy --out bad --layout nhwc
[ ! -e bad ] || { echo "FAIL: a failed conversion left bad/: $(ls bad)"; exit 1; }
# A write that fails: under `ulimit -f 400` (400 KiB; SIGXFSZ ignored, so write() fails with EFBIG as it would with
# ENOSPC on a full disk) the 800 KB shard cannot be written. Before the fix the error surfaced only in the file's
# close at exit: HDF5's atexit cleanup crashed (139) and a truncated train-00000-of-00001.h5 stayed.
"$TESSERA_PYTHON" -c "import numpy as np
np.save('fsz_x.npy', np.ones((2000, 100), np.float32)); np.save('fsz_y.npy', np.zeros(2000, np.int64))"
status=0
(trap '' XFSZ; ulimit -f 400; exec "$tessera" data from-npy fsz_x.npy fsz_y.npy --out full --compression none) \
  >/dev/null 2>err.txt || status=$?
[ "$status" -eq 1 ] || { cat err.txt; echo "FAIL: a failed shard write exited $status, not 1"; exit 1; }
grep -q "error: cannot write HDF5 file 'full/train-00000-of-00001.h5" err.txt && grep -q "File too large" err.txt &&
  [ "$(grep -c "error:" err.txt)" -eq 1 ] && ! grep -qi "segmentation\|HDF5-DIAG" err.txt \
  || { cat err.txt; echo "FAIL: expected one error naming the shard and 'File too large'"; exit 1; }
[ ! -e full ] || { ls -la full; echo "FAIL: a failed shard write left full/"; exit 1; }
rm fsz_x.npy fsz_y.npy
# A rename that cannot happen (a folder in the way of a shard's name) is found before any shard is replaced: one error
# naming it, the earlier conversion's files as they were, no .partial file left.
"$tessera" data from-npy x.npy y.npy --out blocked --test-fraction 0.2 >/dev/null 2>&1
rm blocked/test-00000-of-00001.h5 && mkdir -p blocked/test-00000-of-00001.h5/inside
before=$(md5sum blocked/train-00000-of-00001.h5)
fails "cannot write shard 'blocked/test-00000-of-00001.h5': a folder of that name is in the way (nothing replaced)" -- \
  "$tessera" data from-npy x.npy y.npy --out blocked --test-fraction 0.2 --seed 5
[ "$(md5sum blocked/train-00000-of-00001.h5)" = "$before" ] && ! ls blocked | grep -q partial \
  || { ls blocked; echo "FAIL: a blocked commit replaced shards or left .partial files"; exit 1; }
# Converting again into a folder with other shard files (here --shards 3, where split/ holds 2 of each split) would
# leave the old ones beside the new: train-*.h5 then read 103 + 77 train rows, and the stale test shards overlap the
# new train set. Refused, naming them, with nothing written; the same options again replace the same files.
others="test-00000-of-00002.h5, test-00001-of-00002.h5, train-00000-of-00002.h5, train-00001-of-00002.h5"
fails "output directory 'split' holds 4 shard file(s) of another conversion ($others)" -- \
  "$tessera" data from-npy x.npy y.npy --out split --shards 3
[ "$(ls split | wc -l)" -eq 4 ] || { echo "FAIL: a refused conversion wrote into split/: $(ls split)"; exit 1; }
others="test-00000-of-00002.h5, test-00001-of-00002.h5"
fails "output directory 'split' holds 2 shard file(s) of another conversion ($others)" -- \
  "$tessera" data from-npy x.npy y.npy --out split --shards 2
"$tessera" data from-npy x.npy y.npy --out split --shards 2 --test-fraction 0.25 --seed 3 --layout nhwc >/dev/null

# Larger than what the converter holds: .npy rows stay in their file and are written a slab (64 MiB) at a time. A
# 256 MiB x (big-endian f4, so every element is also swapped on the way) converts, split, with a peak resident size
# less than 128 MiB above that of converting a tiny array (the program alone; a CUDA build's libraries take ~200
# MiB here), where holding the array once would take 256 MiB (the converter used to hold it three times).
"$TESSERA_PYTHON" - "$tessera" <<'PY'
import os, subprocess, sys
import glob, h5py, numpy as np

def peak_mib(*args):  # the converter's peak resident size (its own rusage, from wait4)
    child = subprocess.Popen([sys.argv[1], "data", "from-npy", *args, "--compression", "none"],
                             stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(child.pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, args
    return usage.ru_maxrss / 1024

rng = np.random.default_rng(11)
n, features = 65536, 1024
x = np.lib.format.open_memmap("big_x.npy", mode="w+", dtype=">f4", shape=(n, features))
for start in range(0, n, 8192):
    x[start:start + 8192] = rng.normal(size=(8192, features)).astype(">f4")
x.flush()
np.save("big_y.npy", rng.integers(0, 10, n))
np.save("tiny_x.npy", np.zeros((64, 4), np.float32))
np.save("tiny_y.npy", np.zeros(64, np.int64))
tiny = peak_mib("tiny_x.npy", "tiny_y.npy", "--out", "tiny")
big = peak_mib("big_x.npy", "big_y.npy", "--out", "big", "--shards", "3", "--test-fraction", "0.1")
x, y = np.load("big_x.npy", mmap_mode="r"), np.load("big_y.npy")
seen = 0
for path in sorted(glob.glob("big/*.h5")):
    with h5py.File(path, "r") as f:
        index = f["index"][...]
        for at in (0, len(index) // 2, len(index) - 1):
            assert np.array_equal(f["x"][at], x[index[at]].astype(np.float32)), (path, at)
        assert np.array_equal(f["y"][...], y[index]), path
        seen += len(index)
assert seen == n, seen
print(f"from-npy of a {x.nbytes >> 20} MiB array: peak resident size {big:.0f} MiB, {tiny:.0f} MiB for a tiny one")
assert big - tiny < 128, f"the converter held {big - tiny:.0f} MiB more than for a tiny array"
PY
rm -rf big tiny big_x.npy big_y.npy tiny_x.npy tiny_y.npy
echo "data from-npy: OK"
