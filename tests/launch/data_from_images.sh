#!/usr/bin/env bash
# `tessera data from-images` end to end on image folders Pillow wrote, checked with h5py: classes are the sorted
# subfolder names (y's `classes`), images sorted by name within a class; x is u8 (n, C, H, W) holding exactly the
# pixels Pillow decodes (PNG, and JPEG through the same libjpeg-turbo), a grey image among RGB ones expanded to RGB,
# a grey-only folder gives C = 1; PNGs with alpha (RGBA, LA, half-transparent pixels) and RGB PNGs taken as grey
# (--channels 1, or an LA-only folder), and colour JPEGs taken as grey, equal Pillow's convert("RGB") / convert("L") exactly, as torchvision's
# ImageFolder loads them (alpha dropped, not composited onto black; grey as Pillow's ITU-R 601 luma); images in
# subfolders of a class folder (cat/2019/*.png) belong to the class, in ImageFolder's order (a folder's own files first), while hidden files and folders
# (.ipynb_checkpoints/, macOS ._* files) are left out; --size resizes bilinearly like torch's
# interpolate(mode="bilinear", align_corners=False) (within 1 level of its float result); a seeded --test-fraction
# split keeps every image once. Bad input: an image that is not one (error names the file), a folder without class
# subfolders, images of different sizes without --size, a malformed --size; a bad image met late, after shards were
# written, leaves nothing, and converting again into a folder holding a previous conversion leaves its shards
# byte-identical (nothing replaced, nothing deleted, no *.partial file).
set -euo pipefail
tessera=$1
# (launch/setup.sh installs python3-pil; a machine whose Python lacks it, as the GPU machine's may, skips.)
source "$TESSERA_SOURCE_DIR/tests/launch/lib/dependencies.sh"
require_python_module PIL python3-pil

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
# Alpha: random pixels and alpha (half-transparent everywhere), so compositing or a linear-light grey would show.
for k in range(2):
    save(f"alpha/la/{k}.png", rng.integers(0, 256, (8, 6, 2), dtype=np.uint8))  # Pillow mode LA
    save(f"alpha/rgb/{k}.png", rng.integers(0, 256, (8, 6, 3), dtype=np.uint8))
    save(f"alpha/rgba/{k}.png", rng.integers(0, 256, (8, 6, 4), dtype=np.uint8))
    save(f"greyalpha/la/{k}.png", rng.integers(0, 256, (8, 6, 2), dtype=np.uint8))
    save(f"jpeg_grey/rgb/{k}.jpg", rng.integers(0, 256, (8, 6, 3), dtype=np.uint8), quality=90)  # colour JPEG as L
# Nested class folders: cat/2019/ belongs to cat; hidden folders and files (a notebook's checkpoint copy, macOS's
# AppleDouble ._ file, which is no PNG) are not images of the set, and not "skipped" files either.
save("nested/cat/a.png", picture(3))
save("nested/cat/2019/b.png", picture(3))
save("nested/cat/2019/c.png", picture(3))
save("nested/cat/.ipynb_checkpoints/a-checkpoint.png", picture(3))
open("nested/cat/2019/._b.png", "wb").write(b"\x00\x05\x16\x07" + bytes(60))
save("nested/dog/d.png", picture(3))
save("nested/.cache/x.png", picture(3))
PY

"$tessera" data from-images pets --out pets_h5 2>err.txt | tee out.txt
grep -q "skipped 1 file(s) that are not .png/.jpg/.jpeg images (e.g. 'pets/bird/notes.txt')" err.txt
"$tessera" data from-images pets --size 5x4 --out resized --shards 2 >/dev/null 2>&1
"$tessera" data from-images digits --out digits_h5 --test-fraction 0.5 --seed 2 >/dev/null 2>&1
"$tessera" data from-images sizes --size 4x4 --out sizes_h5 >/dev/null 2>&1
"$tessera" data inspect pets_h5/train-00000-of-00001.h5 | tee inspect.txt
grep -q "x  shape \[10, 3, 8, 6\]  u8" inspect.txt
grep -q "@classes = bird,cat,dog" inspect.txt
"$tessera" data from-images alpha --out alpha_rgb >/dev/null 2>&1
"$tessera" data from-images alpha --channels 1 --out alpha_grey >/dev/null 2>&1
"$tessera" data from-images greyalpha --out greyalpha_h5 >/dev/null 2>&1
"$tessera" data from-images jpeg_grey --channels 1 --out jpeg_grey_h5 >/dev/null 2>&1
"$tessera" data from-images nested --out nested_h5 >/dev/null 2>nested.txt
! grep -q "skipped" nested.txt || { cat nested.txt; echo "FAIL: nested/ had files skipped"; exit 1; }

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

def pillow(paths, mode):  # as torchvision's ImageFolder loads an image: Image.open(path).convert("RGB"), or "L"
    return np.stack([np.asarray(Image.open(p).convert(mode)).reshape(8, 6, -1).transpose(2, 0, 1) for p in paths])
alpha_files = [f"alpha/{c}/{k}.png" for c in ("la", "rgb", "rgba") for k in range(2)]
for folder, files, mode, channels in (("alpha_rgb", alpha_files, "RGB", 3), ("alpha_grey", alpha_files, "L", 1),
                                      ("greyalpha_h5", ["greyalpha/la/0.png", "greyalpha/la/1.png"], "L", 1),
                                      ("jpeg_grey_h5", ["jpeg_grey/rgb/0.jpg", "jpeg_grey/rgb/1.jpg"], "L", 1)):
    got, _, _ = read(folder)
    assert got["x"].shape == (len(files), channels, 8, 6), (folder, got["x"].shape)
    difference = np.abs(got["x"].astype(int) - pillow(files, mode)).max()
    assert difference == 0, f"{folder}: pixels differ from Pillow's convert({mode!r}) by up to {difference}"

# torchvision's ImageFolder order: a folder's own files, then its subfolders' (sorted(os.walk(...)))
nested_files = ["nested/cat/a.png", "nested/cat/2019/b.png", "nested/cat/2019/c.png", "nested/dog/d.png"]
got, classes, _ = read("nested_h5")
assert classes == "cat,dog", classes
assert got["x"].shape == (4, 3, 8, 6) and np.array_equal(got["y"], [0, 0, 0, 1]), (got["x"].shape, got["y"])
assert np.array_equal(got["x"], pillow(nested_files, "RGB")), "nested images are not in ImageFolder's order"
print("from-images: pixels (alpha and grey too), labels, classes, nested folders, resizing and split match Pillow "
      "and torch")
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
# Converting again into a folder holding a previous conversion (same shard names, so allowed) and failing there: the
# previous shards stay as they were. late/dog/zz.png (the last row) falls in the last test shard: both train shards
# and the first test shard were complete by then (before the fix they had replaced the previous ones, and were then
# deleted).
"$tessera" data from-images pets --size 4x4 --shards 2 --test-fraction 0.5 --out prev >/dev/null 2>&1
md5sum prev/* >prev.md5
fails "cannot read PNG image 'late/dog/zz.png'" -- \
  "$tessera" data from-images late --size 4x4 --shards 2 --test-fraction 0.5 --out prev
md5sum --check --quiet prev.md5 || { echo "FAIL: a failed conversion changed the previous shards"; exit 1; }
[ "$(ls -A prev | wc -l)" -eq 4 ] || { ls -A prev; echo "FAIL: a failed conversion left files in prev/"; exit 1; }
echo "data from-images: OK"
