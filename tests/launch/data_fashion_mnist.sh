#!/usr/bin/env bash
# `tessera data fashion-mnist` and `tessera data inspect` end to end. The shards it writes are checked by h5py
# against the idx files read independently with Python's gzip + numpy: same pixels and labels in the same order,
# x (n, 1, 28, 28) u8 chunked, y (n,) i64, gzip only when asked for, attributes naming the source. Also: a missing
# source directory names the Debian package to install, a bad flag is named, and under mpirun -n 2 the files are
# written once and are as good. A source holding the train files but not the t10k ones fails naming the missing
# file and leaves no shard at all: no train split without its test split, no *.partial file.
set -euo pipefail
tessera=$1
source "$TESSERA_SOURCE_DIR/tests/launch/lib/dependencies.sh"
require_fashion_mnist
source_dir=$fashion_mnist_source

"$tessera" data fashion-mnist --out gz --shards 3 | tee gz.txt
"$tessera" data fashion-mnist --out plain --shards 2 --compression none --chunk-rows 1000 >/dev/null
# Under mpirun one rank writes (the others would race on the same files).
timeout 120 $MPIRUN -n 2 "$tessera" data fashion-mnist --out mpi --shards 2 >/dev/null
ls gz plain mpi

"$TESSERA_PYTHON" - "$source_dir" <<'PY'
import glob, gzip, sys
import h5py, numpy as np

source = sys.argv[1]
def idx(name, offset):
    with gzip.open(f"{source}/{name}", "rb") as f:
        return np.frombuffer(f.read(), dtype=np.uint8, offset=offset)

for split, prefix in [("train", "train"), ("test", "t10k")]:
    images = idx(f"{prefix}-images-idx3-ubyte.gz", 16).reshape(-1, 1, 28, 28)
    labels = idx(f"{prefix}-labels-idx1-ubyte.gz", 8).astype(np.int64)
    for out, shards, compressed in [("gz", 3, True), ("plain", 2, False), ("mpi", 2, True)]:
        files = sorted(glob.glob(f"{out}/{split}-*.h5"))
        assert files == [f"{out}/{split}-{k:05d}-of-{shards:05d}.h5" for k in range(shards)], files
        xs, ys = [], []
        for k, path in enumerate(files):
            with h5py.File(path, "r") as f:
                x, y = f["x"], f["y"]
                assert x.dtype == np.uint8 and x.ndim == 4 and x.shape[1:] == (1, 28, 28), (path, x.dtype, x.shape)
                assert y.dtype == np.int64 and y.shape == (x.shape[0],), (path, y.dtype, y.shape)
                assert x.chunks is not None, f"{path}: x is not chunked"
                assert (x.compression == "gzip") == compressed, (path, x.compression)
                assert f.attrs["split"] == split and f.attrs["shard"] == k and f.attrs["num_shards"] == shards
                assert "dataset-fashion-mnist" in f.attrs["source"]
                assert f.attrs["source_images"].endswith(f"{prefix}-images-idx3-ubyte.gz")
                assert f.attrs["first_index"] == sum(len(v) for v in ys)
                xs.append(x[...]); ys.append(y[...])
        sizes = [len(v) for v in ys]
        assert max(sizes) - min(sizes) <= 1, sizes
        assert np.array_equal(np.concatenate(xs), images), f"{out}/{split}: pixels differ from the idx file"
        assert np.array_equal(np.concatenate(ys), labels), f"{out}/{split}: labels differ from the idx file"
        print(f"{out}/{split}: {len(labels)} samples in {shards} shards equal the idx files")
PY

"$tessera" data inspect gz/train-00001-of-00003.h5 plain/test-00000-of-00002.h5 | tee inspect.txt
grep -q "x  shape \[20000, 1, 28, 28\]  u8  chunked \[256, 1, 28, 28\]  filters gzip(4)" inspect.txt
grep -q "y  shape \[20000\]  i64  chunked" inspect.txt
grep -q "x  shape \[5000, 1, 28, 28\]  u8  chunked \[1000, 1, 28, 28\]  filters none" inspect.txt
grep -q "@split = test" inspect.txt

# HDF5_USE_FILE_LOCKING=FALSE is honoured: read-only opens then take no flock (HDF5 reads the variable itself).
if command -v strace >/dev/null; then
  HDF5_USE_FILE_LOCKING=TRUE strace -f -e trace=flock "$tessera" data inspect gz/test-00000-of-00003.h5 2>trace.txt >/dev/null
  grep -q "flock(.*LOCK_SH" trace.txt || { echo "expected a shared lock with file locking on"; exit 1; }
  HDF5_USE_FILE_LOCKING=FALSE strace -f -e trace=flock "$tessera" data inspect gz/test-00000-of-00003.h5 2>trace.txt >/dev/null
  if grep -q "flock(" trace.txt; then echo "HDF5_USE_FILE_LOCKING=FALSE was not honoured"; exit 1; fi
fi

if "$tessera" data fashion-mnist --out nowhere --shards 2 --source /nonexistent 2>err.txt; then
  echo "a missing source was accepted"; exit 1
fi
grep -q "'/nonexistent/train-images-idx3-ubyte.gz' does not exist: install the Debian package dataset-fashion-mnist" err.txt \
  || { echo "unexpected error:"; cat err.txt; exit 1; }
# The t10k files are read after the train shards are written: those go too (they stayed before the fix).
mkdir train_only && ln -s "$source_dir"/train-*-ubyte.gz train_only/
if "$tessera" data fashion-mnist --out half --shards 2 --compression none --source train_only 2>err.txt; then
  echo "a source without t10k files was accepted"; exit 1
fi
grep -q "'train_only/t10k-images-idx3-ubyte.gz' does not exist" err.txt \
  || { echo "unexpected error:"; cat err.txt; exit 1; }
[ -z "$(ls -A half 2>/dev/null)" ] || { ls -A half; echo "FAIL: a failed conversion left files in half/"; exit 1; }
if "$tessera" data fashion-mnist --out x --shards 2 --bogus 2>err.txt; then echo "a bad flag was accepted"; exit 1; fi
grep -q "bogus" err.txt || { echo "unexpected error:"; cat err.txt; exit 1; }
if "$tessera" data fashion-mnist --out x --shards 2 --compression lz4 2>err.txt; then echo "lz4 was accepted"; exit 1; fi
grep -q "compression takes gzip or none, got 'lz4'" err.txt || { cat err.txt; exit 1; }
echo "data fashion-mnist: OK"
