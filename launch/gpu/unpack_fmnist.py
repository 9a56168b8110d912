"""Unpacks what launch/gpu/pack_fmnist.sh packed: <packed>/<name>.xz (the raw idx bytes of Fashion-MNIST under xz)
into <out>/<name>.gz, the layout of Debian's dataset-fashion-mnist that `tessera data fashion-mnist --source <out>`
reads. Each file's uncompressed bytes are checked against <packed>/SHA256SUMS before it is written; a mismatch or
a missing file is an error naming it (exit 1). Python's standard library only (lzma, gzip, hashlib), so it runs
with any python3 on the GPU machine.

    python3 launch/gpu/unpack_fmnist.py PACKED_DIR OUT_DIR
"""
import gzip
import hashlib
import lzma
import os
import sys
import time


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: unpack_fmnist.py PACKED_DIR OUT_DIR")
    packed, out = sys.argv[1], sys.argv[2]
    sums_path = os.path.join(packed, "SHA256SUMS")
    if not os.path.isfile(sums_path):
        sys.exit(f"unpack_fmnist: {sums_path} does not exist (run launch/gpu/fetch_debs.sh on the development "
                 "machine and carry .debs)")
    expected = {}
    with open(sums_path) as sums:
        for line in sums:
            if line.strip():
                digest, name = line.split()
                expected[name] = digest
    if len(expected) != 4:
        sys.exit(f"unpack_fmnist: {sums_path} names {len(expected)} files; expected the 4 idx files")
    os.makedirs(out, exist_ok=True)
    start = time.perf_counter()
    for name, digest in sorted(expected.items()):
        source = os.path.join(packed, name + ".xz")
        try:
            with lzma.open(source) as f:
                data = f.read()
        except (OSError, EOFError, lzma.LZMAError) as error:  # missing, truncated, not xz
            sys.exit(f"unpack_fmnist: cannot read {source}: {error}")
        actual = hashlib.sha256(data).hexdigest()
        if actual != digest:
            sys.exit(f"unpack_fmnist: {source} decompresses to bytes whose SHA-256 is {actual}, "
                     f"not {digest} as {sums_path} says")
        target = os.path.join(out, name + ".gz")
        # Level 1: the fastest; these files only live until `tessera data fashion-mnist` has read them.
        with gzip.open(target + ".tmp", "wb", compresslevel=1) as f:
            f.write(data)
        os.replace(target + ".tmp", target)
        print(f"{target}: {len(data)} bytes, SHA-256 as packed")
    print(f"unpack_fmnist: {len(expected)} files in {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
