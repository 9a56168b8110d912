#!/usr/bin/env bash
# How Fashion-MNIST reaches the GPU machine (launch/gpu), on a slice of the data so that it takes seconds:
# pack_fmnist.sh (xz + SHA-256) -> unpack_fmnist.py -> `tessera data fashion-mnist --source DIR` gives the slice's
# pixels and labels in order, with attributes naming DIR; packing again is skipped while the source is unchanged; a
# damaged or missing packed file is an error naming it; --source with a folder lacking the files names it.
set -euo pipefail
tessera=$1
source_dir=/usr/share/datasets/fashion-mnist
if [ ! -f "$source_dir/train-images-idx3-ubyte.gz" ]; then
  echo "dataset-fashion-mnist is not installed; skipping"; exit 77
fi
command -v xz >/dev/null || { echo "xz is not installed; skipping"; exit 77; }
gpu=$TESSERA_SOURCE_DIR/launch/gpu

# The slice: the first 1,000 training and 300 test samples, as idx .gz files whose headers say so.
"$TESSERA_PYTHON" - "$source_dir" slice <<'PY'
import gzip, os, struct, sys
source, out = sys.argv[1], sys.argv[2]
os.makedirs(out)
for prefix, n in [("train", 1000), ("t10k", 300)]:
    for kind, dims in [("images-idx3", 3), ("labels-idx1", 1)]:
        with gzip.open(f"{source}/{prefix}-{kind}-ubyte.gz", "rb") as f:
            data = f.read()
        shape = list(struct.unpack(f">{dims}I", data[4:4 + 4 * dims]))
        row = 1 if dims == 1 else shape[1] * shape[2]
        header = data[:4] + struct.pack(f">{dims}I", n, *shape[1:])
        with gzip.open(f"{out}/{prefix}-{kind}-ubyte.gz", "wb") as f:
            f.write(header + data[4 + 4 * dims:4 + 4 * dims + n * row])
PY

bash "$gpu/pack_fmnist.sh" --source slice --out packed | tee pack.txt
ls packed
[ "$(ls packed | wc -l)" -eq 5 ] || { echo "expected 4 .xz files and SHA256SUMS"; exit 1; }
bash "$gpu/pack_fmnist.sh" --source slice --out packed | grep -q "is up to date" ||
  { echo "packing an unchanged source again was not skipped"; exit 1; }
"$TESSERA_PYTHON" "$gpu/unpack_fmnist.py" packed idx
"$tessera" data fashion-mnist --source idx --out h5 --shards 2

"$TESSERA_PYTHON" - <<'PY'
import glob, gzip
import h5py, numpy as np
for split, prefix, n in [("train", "train", 1000), ("test", "t10k", 300)]:
    with gzip.open(f"slice/{prefix}-images-idx3-ubyte.gz") as f:
        images = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 1, 28, 28)
    with gzip.open(f"slice/{prefix}-labels-idx1-ubyte.gz") as f:
        labels = np.frombuffer(f.read(), np.uint8, offset=8).astype(np.int64)
    xs, ys = [], []
    for path in sorted(glob.glob(f"h5/{split}-*.h5")):
        with h5py.File(path, "r") as f:
            assert f.attrs["source_images"].endswith(f"idx/{prefix}-images-idx3-ubyte.gz"), f.attrs["source_images"]
            xs.append(f["x"][...]); ys.append(f["y"][...])
    assert len(xs) == 2, f"{split}: {len(xs)} shards"
    assert np.array_equal(np.concatenate(xs), images) and len(images) == n, f"{split}: pixels differ"
    assert np.array_equal(np.concatenate(ys), labels), f"{split}: labels differ"
    print(f"{split}: {n} samples through xz, unpack_fmnist.py and --source equal the slice")
PY

# Another file's bytes under a packed name: the checksum names the file.
cp -r packed damaged
cp damaged/train-labels-idx1-ubyte.xz damaged/t10k-labels-idx1-ubyte.xz
if "$TESSERA_PYTHON" "$gpu/unpack_fmnist.py" damaged out 2>err.txt; then echo "a damaged file was accepted"; exit 1; fi
grep -q "damaged/t10k-labels-idx1-ubyte.xz decompresses to bytes whose SHA-256 is" err.txt || { cat err.txt; exit 1; }
# A truncated one: xz's own check fails, naming the file.
cp packed/t10k-labels-idx1-ubyte.xz damaged/
head -c 1000 packed/train-images-idx3-ubyte.xz >damaged/train-images-idx3-ubyte.xz
if "$TESSERA_PYTHON" "$gpu/unpack_fmnist.py" damaged out 2>err.txt; then echo "a truncated file was accepted"; exit 1; fi
grep -q "cannot read damaged/train-images-idx3-ubyte.xz" err.txt || { cat err.txt; exit 1; }
rm damaged/SHA256SUMS
if "$TESSERA_PYTHON" "$gpu/unpack_fmnist.py" damaged out 2>err.txt; then echo "no SHA256SUMS was accepted"; exit 1; fi
grep -q "damaged/SHA256SUMS does not exist" err.txt || { cat err.txt; exit 1; }
# --source with a folder that lacks the idx files names the file it looked for.
if "$tessera" data fashion-mnist --source packed --out nowhere --shards 1 2>err.txt; then
  echo "a --source without idx files was accepted"; exit 1
fi
grep -q "'packed/train-images-idx3-ubyte.gz' does not exist" err.txt || { cat err.txt; exit 1; }
echo "gpu_fmnist_pack: OK"
