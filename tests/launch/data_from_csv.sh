#!/usr/bin/env bash
# `tessera data from-csv` end to end on files pandas wrote (to_csv(index=False)), checked with h5py: x holds the
# feature columns in file order as f32 (the values pandas wrote, rounded to float32), y the label column (i64 for
# whole numbers; text labels become class indices in sorted order with the names as y's `classes`), a quoted
# header cell holding a comma is one column, a seeded --test-fraction split has the asked sizes and train + test
# are exactly the input rows. A file starting with a UTF-8 byte order mark (pandas' encoding="utf-8-sig", Excel's
# "CSV UTF-8") reads as pandas reads it: --label takes the first column by its name, and no feature column's name
# keeps the mark. Bad input: a cell that is not a number (error names file, line and column), a label column that
# does not exist (error lists the header), a row with a missing field.
set -euo pipefail
tessera=$1
# (launch/setup.sh installs python3-pandas; a machine whose Python lacks it, as the GPU machine's may, skips.)
source "$TESSERA_SOURCE_DIR/tests/launch/lib/dependencies.sh"
require_python_module pandas python3-pandas

"$TESSERA_PYTHON" - <<'PY'
import numpy as np, pandas as pd
rng = np.random.default_rng(11)
n = 57
frame = pd.DataFrame({"f0": rng.normal(size=n), "width, cm": rng.uniform(0, 100, n), "count": rng.integers(-5, 5, n),
                      "label": rng.integers(0, 3, n), "f3": rng.normal(size=n) * 1e-3})
frame.to_csv("numbers.csv", index=False)
iris = pd.DataFrame({"sepal": rng.normal(5, 1, 30), "species": rng.choice(["virginica", "setosa", "versicolor"], 30),
                     "petal": rng.normal(2, 1, 30)})
iris.to_csv("named.csv", index=False)
iris[["species", "sepal", "petal"]].to_csv("bom_label.csv", index=False, encoding="utf-8-sig")
iris.to_csv("bom_feature.csv", index=False, encoding="utf-8-sig")
bad = frame.head(6).copy().astype(object)
bad.loc[3, "f3"] = "n/a"
bad.to_csv("bad_cell.csv", index=False)
PY
printf 'a,b,label\n1,2,0\n3,4\n' >short_row.csv

"$tessera" data from-csv numbers.csv --label label --out numbers --shards 2 --test-fraction 0.2 --seed 5 | tee out.txt
"$tessera" data from-csv named.csv --label species --out named >/dev/null
"$tessera" data inspect numbers/test-00000-of-00002.h5 | tee inspect.txt
grep -q "@feature_columns = f0,width, cm,count,f3" inspect.txt
grep -q "x  shape \[5, 4\]  f32" inspect.txt
head -c 3 bom_label.csv | od -An -tx1 | grep -q "ef bb bf"  # pandas wrote the mark
"$tessera" data from-csv bom_label.csv --label species --out bom_label >/dev/null
"$tessera" data from-csv bom_feature.csv --label species --out bom_feature >/dev/null

"$TESSERA_PYTHON" - <<'PY'
import glob
import h5py, numpy as np, pandas as pd

def read(folder, split):
    parts = {}
    for path in sorted(glob.glob(f"{folder}/{split}-*.h5")):
        with h5py.File(path, "r") as f:
            for name in ("x", "y", "index"):
                parts.setdefault(name, []).append(f[name][...])
            classes = f["y"].attrs.get("classes")
    return {k: np.concatenate(v) for k, v in parts.items()}, classes

frame = pd.read_csv("numbers.csv", float_precision="round_trip")
features = frame.drop(columns="label").to_numpy(np.float64).astype(np.float32)
labels = frame["label"].to_numpy(np.int64)
train, _ = read("numbers", "train")
test, classes = read("numbers", "test")
assert classes is None
assert len(test["y"]) == round(57 * 0.2) == 11 and len(train["y"]) == 46
assert np.array_equal(np.sort(np.concatenate([train["index"], test["index"]])), np.arange(57))
for part in (train, test):
    assert part["x"].dtype == np.float32 and part["x"].shape[1] == 4 and part["y"].dtype == np.int64
    assert np.array_equal(part["x"], features[part["index"]]), "features differ from pandas'"
    assert np.array_equal(part["y"], labels[part["index"]]), "labels differ from pandas'"

iris = pd.read_csv("named.csv", float_precision="round_trip")
named, classes = read("named", "train")
names = sorted(iris["species"].unique())
assert classes == ",".join(names), classes
assert np.array_equal(named["y"], iris["species"].map({c: i for i, c in enumerate(names)}).to_numpy())
assert np.array_equal(named["x"], iris[["sepal", "petal"]].to_numpy().astype(np.float32))
for folder in ("bom_label", "bom_feature"):  # the same rows and columns as named.csv, after a byte order mark
    got, classes = read(folder, "train")
    assert classes == ",".join(names) and np.array_equal(got["y"], named["y"]), folder
    assert np.array_equal(got["x"], named["x"]), folder
    with h5py.File(f"{folder}/train-00000-of-00001.h5", "r") as f:
        assert f.attrs["feature_columns"] == "sepal,petal", (folder, f.attrs["feature_columns"])
print("from-csv: values, dtypes, classes, split sizes and rows match pandas")
PY

fails() {  # fails "expected text" -- command...
  local expected=$1; shift 2
  if "$@" 2>err.txt >/dev/null; then echo "FAIL: accepted: $*"; exit 1; fi
  grep -qF -- "$expected" err.txt || { echo "FAIL: $* said:"; cat err.txt; echo "expected: $expected"; exit 1; }
}
fails "CSV file 'bad_cell.csv' line 5, column 'f3' (column 5): 'n/a' is not a number" -- \
  "$tessera" data from-csv bad_cell.csv --label label --out bad
printf 'f0,f1,label\n1,2,0\n3,nan,1\n' > nan_cell.csv
fails "CSV file 'nan_cell.csv' line 3, column 'f1' (column 2): 'nan' is not a finite float32" -- \
  "$tessera" data from-csv nan_cell.csv --label label --out bad
printf 'f0,f1,label\n1,2,0\n1e39,3,1\n' > huge_cell.csv
fails "CSV file 'huge_cell.csv' line 3, column 'f0' (column 1): '1e39' is not a finite float32" -- \
  "$tessera" data from-csv huge_cell.csv --label label --out bad
printf 'f0,f1,label\n1,2,0.5\n3,4,nan\n' > nan_label.csv
fails "CSV file 'nan_label.csv' line 3, label column 'label': 'nan' is not a finite float32" -- \
  "$tessera" data from-csv nan_label.csv --label label --out bad
fails "CSV file 'numbers.csv' has no column 'target' for --label (its header names 'f0', 'width, cm', 'count', 'label', 'f3')" -- \
  "$tessera" data from-csv numbers.csv --label target --out bad
fails "CSV file 'short_row.csv' line 3 has 2 fields but the header has 3" -- "$tessera" data from-csv short_row.csv --label label --out bad
fails "the option '--label' is required" -- "$tessera" data from-csv numbers.csv --out bad
[ ! -e bad ] || { echo "FAIL: a failed conversion left bad/: $(ls bad)"; exit 1; }
echo "data from-csv: OK"
