"""h5py peer of `tessera bench loader`: reads the same batches (the same index lists, written by the Tessera side)
from the same files, the way a careful h5py user would, and turns them into the same arrays.

Per batch: global indices -> per file, sorted and de-duplicated; rows spanning at most 4x their count are read as
one covering slice, others cut into runs of consecutive rows, each run read as one slice; rows are put back in
batch order, x becomes float32 * scale, y int64. Slices per run are h5py's
fastest way here: one fancy-index read of the same rows (`ds[sorted_rows]`) measured ~13x slower on chunked files
(HDF5 1.10 maps such selections onto chunks element by element). Files are opened once, read-only, with a raw-data
chunk cache (--cache-bytes, default 256 MiB: the budget of Tessera's own block cache) holding every chunk.

  h5py_peer.py --indices FILE --batch B --epochs E --scale S --cache-bytes N FILES...
Prints {"seconds": s, "samples": n}: the wall time of all epochs (files already open).
"""
import argparse
import json
import time

import h5py
import numpy as np


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("files", nargs="+")
    parser.add_argument("--indices", required=True, help="int64 sample indices, epoch after epoch")
    parser.add_argument("--batch", type=int, required=True)
    parser.add_argument("--epochs", type=int, required=True)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--cache-bytes", type=int, default=256 << 20)
    args = parser.parse_args()

    files = [h5py.File(path, "r", rdcc_nbytes=args.cache_bytes, rdcc_nslots=10007) for path in args.files]
    xs, ys = [f["x"] for f in files], [f["y"] for f in files]
    offsets = np.cumsum([0] + [len(y) for y in ys])
    indices = np.fromfile(args.indices, dtype=np.int64).reshape(args.epochs, -1)
    scale = np.float32(args.scale)

    def read(dataset, local):
        # Rows close together (a DistributedSampler's unshuffled share: every world_size-th row) are one slice of
        # the rows they span, picked in numpy: one HDF5 read instead of one per row.
        span = local[-1] - local[0] + 1
        if span <= 4 * len(local):
            return dataset[local[0]:local[-1] + 1][local - local[0]]
        breaks = np.flatnonzero(np.diff(local) != 1) + 1
        starts = np.concatenate(([0], breaks))
        ends = np.concatenate((breaks, [len(local)]))
        if len(starts) == 1:
            return dataset[local[0]:local[-1] + 1]
        return np.concatenate([dataset[local[a]:local[b - 1] + 1] for a, b in zip(starts, ends)])

    samples = 0
    start = time.perf_counter()
    for epoch in indices:
        for b in range(0, len(epoch), args.batch):
            batch = epoch[b:b + args.batch]
            unique, inverse = np.unique(batch, return_inverse=True)
            shard = np.searchsorted(offsets, unique, side="right") - 1
            x_parts, y_parts = [], []
            for s in np.unique(shard):
                local = unique[shard == s] - offsets[s]
                x_parts.append(read(xs[s], local))
                y_parts.append(read(ys[s], local))
            x = np.concatenate(x_parts)[inverse].astype(np.float32) * scale
            y = np.concatenate(y_parts)[inverse].astype(np.int64)
            samples += len(batch)
    seconds = time.perf_counter() - start
    assert x.dtype == np.float32 and y.dtype == np.int64
    print(json.dumps({"seconds": seconds, "samples": samples}))


if __name__ == "__main__":
    main()
