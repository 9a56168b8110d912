#!/usr/bin/env bash
# Packs Fashion-MNIST for the GPU machine, which has no copy of it (run here, on the development machine; fetch_debs.sh
# calls it). Debian's dataset-fashion-mnist holds the four idx files gzip-compressed (30 MB); the same bytes under
# `xz -9e` take 26.4 MB, the difference that lets the data travel with .debs/ inside the 64 MiB the device tool
# carries (fetch_debs.sh prints the total). On the GPU machine, launch/gpu/unpack_fmnist.py turns them back into
# the .gz idx files `tessera data fashion-mnist --source DIR` reads, checking each against the SHA-256 recorded here.
#   bash launch/gpu/pack_fmnist.sh [--source DIR] [--out DIR]
#     --source  the idx .gz files (default /usr/share/datasets/fashion-mnist, Debian's dataset-fashion-mnist)
#     --out     where <name>.xz and SHA256SUMS go (default .debs/fmnist in the repository)
# Writes <out>/{train,t10k}-{images-idx3,labels-idx1}-ubyte.xz and <out>/SHA256SUMS (the uncompressed idx files'
# hashes, written last: a complete folder has it). Skips the work (~50 s on one core) when SHA256SUMS already
# matches the source. Why xz and not a better image codec: measured on the test images, WebP lossless was larger
# than xz (3.90 MB against 3.78 MB) and JPEG XL only 10% smaller, with no decoder on that machine; Python's lzma
# module (stdlib) decompresses xz there.
set -euo pipefail
source_dir=/usr/share/datasets/fashion-mnist
out=$(dirname "$0")/../../.debs/fmnist
while [ $# -gt 0 ]; do
  case $1 in
    --source) source_dir=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    *) echo "pack_fmnist: unknown argument '$1' (usage: pack_fmnist.sh [--source DIR] [--out DIR])" >&2; exit 2 ;;
  esac
done
names=(train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte)
for name in "${names[@]}"; do
  [ -f "$source_dir/$name.gz" ] || {
    echo "pack_fmnist: '$source_dir/$name.gz' does not exist: apt-get install dataset-fashion-mnist" >&2; exit 1; }
done
sums=$(for name in "${names[@]}"; do
  echo "$(timeout 60 gzip -dc "$source_dir/$name.gz" | sha256sum | cut -d' ' -f1)  $name"; done)
if [ -f "$out/SHA256SUMS" ] && [ "$(cat "$out/SHA256SUMS")" = "$sums" ] &&
  (cd "$out" && for name in "${names[@]}"; do [ -s "$name.xz" ] || exit 1; done); then
  echo "pack_fmnist: $out is up to date ($(du -sh "$out" | cut -f1))"
  exit 0
fi
mkdir -p "$out"
rm -f "$out/SHA256SUMS"
for name in "${names[@]}"; do
  # -T1: one block, the best ratio (a multi-threaded xz splits the stream); -9e: 64 MiB dictionary, extreme search.
  timeout 600 gzip -dc "$source_dir/$name.gz" | timeout 600 xz -9e -T1 -c >"$out/$name.xz.tmp"
  mv "$out/$name.xz.tmp" "$out/$name.xz"
done
echo "$sums" >"$out/SHA256SUMS"
echo "pack_fmnist: $(du -cb "$out"/*.xz | tail -n 1 | cut -f1) bytes in $out"
