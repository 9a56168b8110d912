"""Reads a Tessera checkpoint with h5py (an independent reader): every dataset's name, shape, dtype and values,
and the root attributes.

stdin:  {"path": "<checkpoint.h5>"}
stdout: {"attributes": {name: value}, "datasets": {"model/0.weight": {"shape": [...], "dtype": "float32",
         "values": [flat values]}, ...}}
"""
import json
import sys

import h5py
import numpy as np


def main():
    path = json.load(sys.stdin)["path"]
    out = {"attributes": {}, "datasets": {}}
    with h5py.File(path, "r") as f:
        for key, value in f.attrs.items():
            out["attributes"][key] = value.item() if isinstance(value, np.generic) else value
        def visit(name, node):
            if isinstance(node, h5py.Dataset):
                data = node[()]
                out["datasets"][name] = {"shape": list(node.shape), "dtype": str(node.dtype),
                                         "values": np.asarray(data, dtype=np.float64).reshape(-1).tolist()}
        f.visititems(visit)
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
