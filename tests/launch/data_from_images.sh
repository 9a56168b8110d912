#!/usr/bin/env bash
# `tessera data from-images` end to end on image folders Pillow wrote, checked with h5py: classes are the sorted
# subfolder names (y's `classes`), images sorted by name within a class; x is u8 (n, C, H, W) holding exactly the
# pixels Pillow decodes (PNG, and JPEG through the same libjpeg-turbo), a grey image among RGB ones expanded to RGB,
# a grey-only folder gives C = 1; --size resizes bilinearly like torch's interpolate(mode="bilinear",
# align_corners=False) (within 1 level of its float result); a seeded --test-fraction split keeps every image once.
# Bad input: an image that is not one (error names the file), a folder without class subfolders, images of
# different sizes without --size, a malformed --size; a bad image met late, after shards were written, leaves nothing.
set -euo pipefail
tessera=$1
# (launch/setup.sh installs python3-pil; a machine whose Python lacks it, as the GPU machine's may, skips.)
"$TESSERA_PYTHON" -c "import PIL" 2>/dev/null || { echo "Pillow missing from $TESSERA_PYTHON; skipping"; exit 77; }

"$TESSERA_PYTHON" - <<'PY'
import os
import numpy as np
from PIL import Image
rng = np.random.default_rng(5)
def save(path, array, **options):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.fromarray(array).save(path, **options)
# Smooth-ish images (JPEG keeps them close; the check compares with Pillow's own decoding anyway).
def picture(channels):
    base = rng.integers(0, 256, (3, 4, channels)).repeat(3, 0).repeat(2, 1)[:8, :6]
    return base.squeeze(-1).astype(np.uint8) if channels == 1 else base.astype(np.uint8)
for k in range(4):
    save(f"pets/dog/d{k}.png", picture(3))
    save(f"pets/cat/c{k}.jpg", picture(3), quality=90)
save("pets/bird/b0.png", picture(1))   # grey among RGB: expanded to RGB
save("pets/bird/b1.jpeg", picture(3), quality=95)
open("pets/bird/notes.txt", "w").write("not an image\n")  # skipped, and said so
for k in range(3):
    save(f"digits/one/{k}.png", picture(1))
    save(f"digits/two/{k}.png", picture(1))
save("sizes/a/big.png", picture(3))
save("sizes/a/small.png", picture(3)[:5, :5])
os.makedirs("broken/a", exist_ok=True)
open("broken/a/fake.png", "wb").write(b"\x89PNG\r\n\x1a\n" + bytes(rng.integers(0, 256, 64, dtype=np.uint8)))
os.makedirs("flat", exist_ok=True)
save("flat/x.png", picture(3))
PY

"$tessera" data from-images pets --out pets_h5 2>err.txt | tee out.txt
grep -q "skipped 1 file(s) that are not .png/.jpg/.jpeg images (e.g. 'pets/bird/notes.txt')" err.txt
"$tessera" data from-images pets --size 5x4 --out resized --shards 2 >/dev/null 2>&1
"$tessera" data from-images digits --out digits_h5 --test-fraction 0.5 --seed 2 >/dev/null 2>&1
"$tessera" data from-images sizes --size 4x4 --out sizes_h5 >/dev/null 2>&1
"$tessera" data inspect pets_h5/train-00000-of-00001.h5 | tee inspect.txt
grep -q "x  shape \[10, 3, 8, 6\]  u8" inspect.txt
grep -q "@classes = bird,cat,dog" inspect.txt

"$TESSERA_PYTHON" - <<'PY'
import glob
import h5py, numpy as np, torch
from PIL import Image

def read(folder, split="train"):
    parts = {}
    for path in sorted(glob.glob(f"{folder}/{split}-*.h5")):
        with h5py.File(path, "r") as f:
            for name in ("x", "y", "index"):
                parts.setdefault(name, []).append(f[name][...])
            classes, layout = f["y"].attrs["classes"], f["x"].attrs["layout"]
    return {k: np.concatenate(v) for k, v in parts.items()}, classes, layout

files = sorted(glob.glob("pets/bird/*.png") + glob.glob("pets/bird/*.jpeg")) + sorted(glob.glob("pets/cat/*")) + \
        sorted(glob.glob("pets/dog/*"))
labels = [0, 0] + [1] * 4 + [2] * 4
expected = np.stack([np.asarray(Image.open(p).convert("RGB")).transpose(2, 0, 1) for p in files])
got, classes, layout = read("pets_h5")
assert classes == "bird,cat,dog" and layout == "N,C,H,W", (classes, layout)
assert got["x"].dtype == np.uint8 and got["x"].shape == (10, 3, 8, 6), got["x"].shape
assert np.array_equal(got["y"], labels), got["y"]
difference = np.abs(got["x"].astype(int) - expected).max()
assert difference == 0, f"pixels differ from Pillow's by up to {difference}"

resized, _, _ = read("resized")
reference = torch.nn.functional.interpolate(torch.from_numpy(expected).double(), size=(5, 4), mode="bilinear",
                                            align_corners=False).numpy()
assert resized["x"].shape == (10, 3, 5, 4)
difference = np.abs(resized["x"] - reference).max()
assert difference <= 0.5 + 1e-4, f"bilinear resize differs from torch's by {difference}"

train, classes, _ = read("digits_h5")
test, _, _ = read("digits_h5", "test")
assert classes == "one,two" and train["x"].shape[1] == 1, (classes, train["x"].shape)
assert len(train["y"]) == 3 and len(test["y"]) == 3
assert np.array_equal(np.sort(np.concatenate([train["index"], test["index"]])), np.arange(6))
digit_files = sorted(glob.glob("digits/one/*")) + sorted(glob.glob("digits/two/*"))
for part in (train, test):
    for row, source in zip(part["x"], part["index"]):
        assert np.array_equal(row[0], np.asarray(Image.open(digit_files[source])))
    assert np.array_equal(part["y"], part["index"] // 3)
sizes, _, _ = read("sizes_h5")
assert sizes["x"].shape == (2, 3, 4, 4)
print("from-images: pixels, labels, classes, resizing and split match Pillow and torch")
PY

fails() {  # fails "expected text" -- command...
  local expected=$1; shift 2
  if "$@" 2>err.txt >/dev/null; then echo "FAIL: accepted: $*"; exit 1; fi
  grep -qF -- "$expected" err.txt || { echo "FAIL: $* said:"; cat err.txt; echo "expected: $expected"; exit 1; }
}
fails "cannot read PNG image 'broken/a/fake.png'" -- "$tessera" data from-images broken --out bad
fails "image folder 'flat' has no class subfolders" -- "$tessera" data from-images flat --out bad
fails "image 'sizes/a/small.png' is 5x5 but 'sizes/a/big.png' is 8x6; give --size HxW" -- "$tessera" data from-images sizes --out bad
fails "--size must be HxW with positive whole numbers (e.g. 64x64), got '64'" -- "$tessera" data from-images pets --size 64 --out bad
[ ! -e bad ] || { echo "FAIL: a failed conversion left bad/: $(ls bad)"; exit 1; }
# Images are decoded as the shards are written: a bad image met after two shards are complete fails the conversion
# naming it, and takes those shards (and the folder this run made) with it; in a folder that was there already,
# the user's own files stay.
cp -r pets late && cp broken/a/fake.png late/dog/zz.png
fails "cannot read PNG image 'late/dog/zz.png'" -- "$tessera" data from-images late --size 4x4 --shards 3 --out bad
[ ! -e bad ] || { echo "FAIL: a conversion that failed late left bad/: $(ls bad)"; exit 1; }
mkdir mine && touch mine/notes.txt
fails "cannot read PNG image 'late/dog/zz.png'" -- "$tessera" data from-images late --size 4x4 --shards 3 --out mine
[ "$(ls mine)" = notes.txt ] || { echo "FAIL: a failed conversion into mine/ left: $(ls mine)"; exit 1; }
echo "data from-images: OK"
