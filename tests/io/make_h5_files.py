"""Writes the HDF5 files the io tests read, with h5py (not Tessera), and answers with what numpy reads back.

stdin: {"dir": DIR}. stdout: JSON
  {"sets": {name: {"files": [...], "x": [flat values], "x_shape": [...], "y": [...],
                   "x_norm": [flat values of (x * scale - mean[c]) / std[c]] (with "norm": {...})}},
   "bad": {name: path}}
The values in "sets" are read back from the written files with h5py, in shard order: the independent reference
every value read through tessera's Loader is compared to.
"""
import json
import os
import shutil
import sys

import h5py
import numpy as np

TYPES = ["u8", "i8", "i16", "i32", "i64", "f16", "f32", "f64"]
NUMPY = {"u8": np.uint8, "i8": np.int8, "i16": np.int16, "i32": np.int32, "i64": np.int64,
         "f16": np.float16, "f32": np.float32, "f64": np.float64}


def write(path, arrays, **dataset_options):
    with h5py.File(path, "w") as f:
        for name, value in arrays.items():
            options = dataset_options if value.ndim > 0 and value.shape[0] > 0 else {}
            f.create_dataset(name, data=value, **options)
    return path


def read_back(files, names=("x", "y")):
    out = {}
    for name in names:
        parts = []
        for path in files:
            with h5py.File(path, "r") as f:
                parts.append(f[name][...])
        out[name] = np.concatenate(parts)
    return out


def normalized(x, norm):
    shape = [1, -1] + [1] * (x.ndim - 2)
    mean = np.array(norm["mean"], dtype=np.float64).reshape(shape)
    std = np.array(norm["std"], dtype=np.float64).reshape(shape)
    return (x.astype(np.float64) * norm["scale"] - mean) / std


def describe(files, norm=None):
    values = read_back(files)
    entry = {"files": files, "x": values["x"].astype(np.float64).ravel().tolist(), "x_shape": list(values["x"].shape),
             "y": values["y"].astype(np.int64).ravel().tolist()}
    if norm:
        entry["norm"] = norm
        entry["x_norm"] = normalized(values["x"], norm).ravel().tolist()
    return entry


def write_unusual_inputs(root, sets, bad):
    """Files as h5py and other writers make them that the loader once mishandled (own generator, so the files
    above keep their values)."""
    rng = np.random.default_rng(4321)
    y = np.arange(12, dtype=np.int64)
    # Enums read as their base type (tests/io/test_loader.cpp): over u1 holding 200 (not -56 as an i8), over a
    # big-endian u4 holding 3e9; numpy bools, which h5py writes as an enum over i8, still read as 0 and 1.
    path = os.path.join(root, "enum_u1.h5")
    with h5py.File(path, "w") as f:
        f.create_dataset("x", data=rng.choice(np.array([0, 17, 200], np.uint8), size=(12, 3)),
                         dtype=h5py.enum_dtype({"low": 0, "mid": 17, "high": 200}, basetype="u1"))
        f["y"] = y
    sets["enum_u1"] = describe([path])
    path = os.path.join(root, "enum_be_u4.h5")
    with h5py.File(path, "w") as f:
        f.create_dataset("x", data=rng.choice(np.array([1, 70000, 3000000000], ">u4"), size=(12, 3)),
                         dtype=h5py.enum_dtype({"a": 1, "b": 70000, "c": 3000000000}, basetype=">u4"))
        f["y"] = y
    sets["enum_be_u4"] = describe([path])
    sets["bool"] = describe([write(os.path.join(root, "bool.h5"), {"x": rng.random((12, 3)) > 0.5, "y": y})])
    # A shard whose file name holds glob characters, next to the file that name matches as a glob (a decoy).
    sets["bracket"] = describe([write(os.path.join(root, "bracket[1].h5"), {"x": rng.normal(size=(6, 2)), "y": y[:6]})])
    write(os.path.join(root, "bracket1.h5"), {"x": rng.normal(size=(9, 2)), "y": np.arange(9)})
    # A 1-byte float (an FP8 type, made with HDF5's own type calls): inspect and the loader recursed forever on it.
    bad["fp8"] = path = os.path.join(root, "fp8.h5")
    with h5py.File(path, "w") as f:
        fp8 = h5py.h5t.IEEE_F32LE.copy()
        fp8.set_fields(7, 3, 4, 0, 3)
        fp8.set_ebias(7)
        fp8.set_precision(8)
        fp8.set_size(1)
        h5py.h5d.create(f.id, b"x", fp8, h5py.h5s.create_simple((4, 2)))
        f["y"] = np.arange(4)
    # Compressed with h5py's own lzf filter, which other programs' HDF5 cannot decode. Compressible values: lzf is an
    # optional filter, and a chunk it cannot shrink is stored unfiltered (readable anywhere).
    bad["lzf"] = path = os.path.join(root, "lzf.h5")
    with h5py.File(path, "w") as f:
        f.create_dataset("x", data=np.repeat(np.arange(5.0), 16).reshape(20, 4), chunks=(5, 4), compression="lzf")
        f["y"] = np.arange(20)
    # Text labels, and datasets of strings and compounds beside the numbers (tessera data inspect lists them all).
    bad["text_labels"] = path = os.path.join(root, "text_labels.h5")
    with h5py.File(path, "w") as f:
        f["names"] = np.array(["cat", "dog"], dtype=h5py.string_dtype())
        f["table"] = np.array([(k, 0.5) for k in range(10)], dtype=[("label", "i8"), ("weight", "f4")])
        f["x"] = rng.normal(size=(10, 4))
        f["y"] = np.array([b"cat", b"dog"] * 5)
    # Datasets reached through external links (h5py.ExternalLink) into another file of the same folder.
    with h5py.File(os.path.join(root, "external_target.h5"), "w") as f:
        f["data/x"] = rng.normal(size=(10, 4))
        f["data/y"] = np.arange(10)
    bad["external_link"] = path = os.path.join(root, "external_link.h5")
    with h5py.File(path, "w") as f:
        f["x"] = h5py.ExternalLink("external_target.h5", "data/x")
        f["y"] = h5py.ExternalLink("external_target.h5", "data/y")
    # A file in HDF5's latest format whose writer died without closing it: HDF5 marks such a file "open for write"
    # in its superblock while a writer has it, so a byte copy taken while the writer holds it open (flushed) is what
    # a killed writer leaves (tests/launch/data_hdf5_inputs.sh kills a real one).
    bad["writer_died"] = path = os.path.join(root, "writer_died.h5")
    with h5py.File(os.path.join(root, "writer_alive.h5"), "w", libver="latest") as f:
        f["x"] = rng.normal(size=(10, 4))
        f["y"] = np.arange(10)
        f.flush()
        shutil.copyfile(os.path.join(root, "writer_alive.h5"), path)
    # Virtual datasets (h5py.VirtualLayout) over two source files in a subfolder, named relative to the VDS's folder,
    # where HDF5 looks for them: one whole, one whose second source file is missing, one whose source file lacks the
    # mapped dataset. HDF5 and h5py read a missing source as fill values, silently.
    os.makedirs(os.path.join(root, "vds_sources"), exist_ok=True)
    parts = [(rng.normal(size=(5, 3)).astype(np.float32), np.arange(5)), (rng.normal(size=(7, 3)).astype(np.float32),
                                                                           np.arange(5, 12))]
    for k, (x, y_part) in enumerate(parts):
        write(os.path.join(root, "vds_sources", f"part{k}.h5"), {"x": x, "y": y_part})

    def write_vds(name, sources):
        path = os.path.join(root, name)
        with h5py.File(path, "w") as f:
            for array, dtype, width in [("x", np.float32, (3,)), ("y", np.int64, ())]:
                layout = h5py.VirtualLayout(shape=(12,) + width, dtype=dtype)
                for (source, source_array), (x, _), start in zip(sources[array], parts, [0, 5]):
                    layout[start:start + len(x)] = h5py.VirtualSource(source, source_array, shape=(len(x),) + width)
                f.create_virtual_dataset(array, layout, fillvalue=0)
        return path

    x_sources = [("vds_sources/part0.h5", "x"), ("vds_sources/part1.h5", "x")]
    y_sources = [("vds_sources/part0.h5", "y"), ("vds_sources/part1.h5", "y")]
    sets["vds"] = describe([write_vds("vds.h5", {"x": x_sources, "y": y_sources})])
    bad["vds_missing_source"] = write_vds("vds_missing_source.h5",
                                          {"x": [x_sources[0], ("vds_sources/gone.h5", "x")], "y": y_sources})
    bad["vds_missing_dataset"] = write_vds("vds_missing_dataset.h5",
                                           {"x": x_sources, "y": [y_sources[0], ("vds_sources/part1.h5", "z")]})
    # Class labels (tests/io/test_loader_labels.cpp): a numeric array as the 'classes' attribute, 5 and 4096 values
    # (it overran an int64 on the stack), and a u64 label of 2**64 - 1 (a -1 stored unsigned) at row 3.
    whole = np.arange(10) % 4
    for name, classes in [("classes_array", np.arange(5)), ("classes_array_big", np.arange(4096))]:
        bad[f"labels_{name}"] = path = write(os.path.join(root, f"labels_{name}.h5"), {"x": np.zeros((10, 4)), "y": whole})
        with h5py.File(path, "a") as f:
            f["y"].attrs["classes"] = classes
    u64 = whole.astype(np.uint64)
    u64[3] = np.iinfo(np.uint64).max
    bad["labels_u64_max"] = write(os.path.join(root, "labels_u64_max.h5"), {"x": np.zeros((10, 4)), "y": u64})


def main():
    request = json.load(sys.stdin)
    root = request["dir"]
    os.makedirs(root, exist_ok=True)
    rng = np.random.default_rng(1234)
    sets, bad = {}, {}

    # Three shards of unequal sizes, f64 inputs with i32 labels and extra datasets; contiguous and chunked+gzip+shuffle.
    sizes = [40, 17, 63]
    shards = [(rng.normal(size=(n, 3, 2)) * 10, rng.integers(-5, 100, size=n).astype(np.int32)) for n in sizes]
    for layout in ["contiguous", "chunked"]:
        files = []
        for k, (x, y) in enumerate(shards):
            path = os.path.join(root, f"f64_{layout}_{k}.h5")
            with h5py.File(path, "w") as f:
                if layout == "chunked":  # small chunks, so that one batch spans several
                    f.create_dataset("x", data=x, chunks=(7, 3, 2), compression="gzip", shuffle=True)
                    f.create_dataset("y", data=y, chunks=(5,), compression="gzip", shuffle=True)
                else:
                    f["x"], f["y"] = x, y
                f["extra"] = rng.normal(size=(len(y), 5)).astype(np.float32)
                f["meta/ids"] = np.arange(len(y), dtype=np.int64)
            files.append(path)
        sets[f"f64_{layout}"] = describe(files, {"scale": 0.5, "mean": [1.0, 2.0, 3.0], "std": [2.0, 3.0, 4.0]})

    # u8 images (N, 1, 6, 6), chunked + gzip, i64 labels, two shards.
    files = []
    for k, n in enumerate([50, 31]):
        path = os.path.join(root, f"u8_images_{k}.h5")
        with h5py.File(path, "w") as f:
            f.create_dataset("x", data=rng.integers(0, 256, size=(n, 1, 6, 6)).astype(np.uint8), chunks=(8, 1, 6, 6),
                             compression="gzip", compression_opts=6)
            f.create_dataset("y", data=rng.integers(0, 10, size=n).astype(np.int64), chunks=True, compression="gzip")
        files.append(path)
    sets["u8_images"] = describe(files, {"scale": 1 / 255, "mean": [0.5], "std": [0.25]})

    # Every common element type, one file each.
    for name in TYPES:
        low = -100 if name[0] != "u" else 0
        x = rng.integers(low, 101, size=(12, 3)).astype(NUMPY[name])
        if name[0] == "f":
            x = (rng.normal(size=(12, 3)) * 50).astype(NUMPY[name])
        path = write(os.path.join(root, f"type_{name}.h5"), {"x": x, "y": np.arange(12, dtype=np.int64)})
        sets[f"type_{name}"] = describe([path])

    # Bad input.
    bad["missing_dataset"] = write(os.path.join(root, "missing_dataset.h5"),
                                   {"x": np.zeros((10, 4)), "labels": np.zeros(10, dtype=np.int64)})
    bad["mismatched"] = write(os.path.join(root, "mismatched.h5"), {"x": np.zeros((10, 4)), "y": np.zeros(9, np.int64)})
    bad["empty"] = write(os.path.join(root, "empty.h5"), {"x": np.zeros((0, 4)), "y": np.zeros(0, np.int64)})
    bad["flat"] = write(os.path.join(root, "flat.h5"), {"x": np.zeros(10), "y": np.zeros(10, np.int64)})
    non_finite = np.zeros((10, 4), np.float32)
    non_finite[6, 2] = np.nan
    bad["non_finite"] = write(os.path.join(root, "non_finite.h5"), {"x": non_finite, "y": np.zeros(10, np.int64)})
    truncated = write(os.path.join(root, "truncated.h5"), {"x": np.ones((1000, 16), np.float32), "y": np.zeros(1000)})
    os.truncate(truncated, os.path.getsize(truncated) - 100)
    bad["truncated"] = truncated
    bad["not_hdf5"] = os.path.join(root, "not_hdf5.h5")
    with open(bad["not_hdf5"], "w") as f:
        f.write("x,y\n1,2\n" * 100)
    # Class labels (tests/io/test_loader_labels.cpp): one bad value each, at a known row.
    whole = np.arange(10, dtype=np.float64) % 4
    labels = {"float": whole.copy(), "above_attribute": whole.astype(np.int64), "above_names": whole.astype(np.int32),
              "negative": whole.astype(np.int64), "good": whole.astype(np.int64), "above_model": whole.astype(np.int64)}
    labels["float"][4] = 3.5
    labels["above_attribute"][7] = 10
    labels["above_names"][5] = 4
    labels["negative"][2] = -3
    labels["good"][[1, 8]] = -100  # ignore_index
    labels["above_model"][6] = 9  # no attribute: only a class count known later (the model's outputs) rejects it
    for name, y in labels.items():
        bad[f"labels_{name}"] = write(os.path.join(root, f"labels_{name}.h5"), {"x": np.zeros((10, 4)), "y": y})
    with h5py.File(bad["labels_above_attribute"], "a") as f:
        f["y"].attrs["classes"] = 10
    with h5py.File(bad["labels_above_names"], "a") as f:
        f["y"].attrs["classes"] = "cat,dog,bird,fish"
    bad["labels_bad_attribute"] = write(os.path.join(root, "labels_bad_attribute.h5"),
                                        {"x": np.zeros((10, 4)), "y": whole.astype(np.int64)})
    with h5py.File(bad["labels_bad_attribute"], "a") as f:
        f["y"].attrs["classes"] = ["cat", "dog"]
    # Many small shards for the open-file limit (tests/io/test_loader_open_files.cpp).
    files = [write(os.path.join(root, f"small_{k:02d}.h5"), {"x": rng.normal(size=(5, 2)), "y": np.arange(5) + 5 * k})
             for k in range(12)]
    sets["small_shards"] = describe(files)
    # Three shards for the reader-thread test, which deletes the last one while the epoch runs.
    files = []
    for k in range(3):
        files.append(write(os.path.join(root, f"deletable_{k}.h5"),
                           {"x": rng.normal(size=(100, 4)), "y": np.arange(100, dtype=np.int64)}))
    sets["deletable"] = {"files": files}
    write_unusual_inputs(root, sets, bad)

    json.dump({"sets": sets, "bad": bad}, sys.stdout)


if __name__ == "__main__":
    main()
