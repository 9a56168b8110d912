#!/usr/bin/env bash
# Run on the development machine (Debian 12, with package registries). Downloads the Debian packages that the GPU
# test machine lacks into .debs/ (git-ignored), which the device tool's `carry` ships with the checkout
# (build_and_test.sh unpacks them there). The GPU machine (Ubuntu 24.04 image, no registry) has CUDA, g++, CMake,
# ninja and the cuDNN/NCCL Python wheels, but no MPI, HDF5, BLAS, oneDNN, Boost, GoogleTest or zlib headers.
#   .debs/*.deb          always unpacked: what we compile and link against, with the libraries it names; trimmed
#                        here (see trim_deb) to what the build uses, then repacked with xz -9e
#   .debs/runtime/*.deb  their dependencies, unpacked only where the machine lacks one of the libraries they hold
#                        (so a library the machine has is never shadowed by Debian 12's older copy); as downloaded
#   .debs/fmnist/        Fashion-MNIST, which the GPU machine lacks, packed by pack_fmnist.sh (xz, 26.4 MB)
# Everything that travels must stay under 64 MiB (the working tree included): this prints the total and fails above
# it. Takes ~3 minutes on 2 cores (xz -9e), the data's part only when .debs/fmnist is missing or stale.
#   bash launch/gpu/fetch_debs.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
link=(
  libopenblas-openmp-dev libopenblas0-openmp                   # BLAS (OpenMP build): cblas.h, libopenblas
  libdnnl-dev libdnnl2                                         # oneDNN
  libgtest-dev libgmock-dev libbenchmark-dev libbenchmark1debian
  nlohmann-json3-dev zlib1g-dev
  libboost1.74-dev libboost-program-options1.74-dev libboost-program-options1.74.0
  libopenmpi-dev libopenmpi3 openmpi-bin openmpi-common        # headers, libmpi, orterun/orted, help files
  libhdf5-dev libhdf5-103-1
  libzip-dev libzip4 libcsv-dev libcsv3 libpng-dev libpng16-16 libturbojpeg0-dev libturbojpeg0  # tessera data from-*
  libspdlog-dev libspdlog1.10 libfmt-dev libfmt9                                                # core/log.h
)
runtime=(
  zlib1g libgfortran5 libquadmath0 ocl-icd-libopencl1 libaec0 libsz2                     # zlib, BLAS, oneDNN, HDF5
  libbz2-1.0                                                                              # libzip
  libhwloc15 libevent-core-2.1-7 libevent-pthreads-2.1-7 libpmix2 libmunge2 libudev1       # Open MPI and PMIx
  libfabric1 libucx0 libibverbs1 librdmacm1 libpsm2-2 libpsm-infinipath1 libnl-3-200      # Open MPI plugins (loaded,
  libnl-route-3-200 libnuma1 libatomic1                                                   # never selected: see MCA)
  libcurl4 libbrotli1 libgssapi-krb5-2 libk5crypto3 libkrb5-3 libkrb5support0 libkeyutils1 # libhdf5 -> libcurl
  libcom-err2 libldap-2.5-0 libsasl2-2 libnghttp2-14 libidn2-0 libunistring2 libpsl5 librtmp1 libgnutls30
  libhogweed6 libnettle8 libgmp10 libp11-kit0 libtasn1-6 libffi8 libssh2-1 libssl3 libzstd1
)
rm -rf .debs/*.deb .debs/runtime  # .debs/fmnist stays: pack_fmnist.sh checks it against the source
mkdir -p .debs/runtime
# (as root, apt warns that _apt cannot write here and downloads unsandboxed: harmless, filtered)
download() { apt-get download "$@" >/dev/null 2> >(grep -v "unsandboxed" >&2); }
(cd .debs && download "${link[@]}")
(cd .debs/runtime && download "${runtime[@]}")

# The boost headers the repository includes, and every top-level boost folder or file they reach (whole folders,
# so that another compiler's different configuration branches still find theirs): program_options and crc reach
# 23 folders of boost's ~130 (25 of 136 MB). Computed with g++ -M against the package's own headers, for C++17
# (nvcc) and C++20/23.
boost_keep() {  # boost_keep ROOT -> names under ROOT/usr/include/boost to keep, one a line
  local includes
  includes=$(git grep -h -o '#include <boost/[^>]*>' -- '*.h' '*.cpp' '*.cu' '*.cuh' | sort -u)
  [ -n "$includes" ] || { echo "fetch_debs: no boost include found in the repository" >&2; return 1; }
  for std in c++17 c++20 c++23; do
    echo "$includes" | g++ -std=$std -M -I "$1/usr/include" -x c++ - -o - || return 1
  done | tr ' \\' '\n\n' | sed -n "s|^$1/usr/include/boost/\([^/]*\).*|\1|p" | sort -u
}

# Trimming: what the GPU build never reads. Static archives (the build links the shared libraries; GoogleTest,
# GoogleMock and Google Benchmark are kept, Debian ships gtest/gmock as static libraries only), documentation except
# copyright files, manual pages, Fortran modules, LAPACK (libopenblas0-openmp's liblapack.so.3, 7 MB: Tessera calls
# BLAS only) and the boost headers nothing includes. Saves ~25 of the link packages' 38 MB.
trim_deb() {  # trim_deb FILE.deb: rewrites it in place, trimmed and recompressed (xz -9e); called under ||, so
  local deb=$1 dir  # set -e does not apply inside: each step that must work says so
  dir=$(mktemp -d) || return 1
  dpkg-deb -R "$deb" "$dir/p" || return 1
  local root=$dir/p inside
  # Links that resolve inside the package now: after trimming, those that no longer do pointed into what was
  # removed (libopenblas.a -> libopenblasp-r0.3.21.a). Links into other packages (libdnnl.so -> libdnnl.so.2) dangle
  # here from the start and stay.
  inside=$(cd "$root" && find . -type l -exec test -e {} \; -print)
  rm -rf "$root"/usr/share/man "$root"/usr/share/lintian "$root"/usr/lib/x86_64-linux-gnu/fortran
  [ -d "$root/usr/share/doc" ] && find "$root/usr/share/doc" -type f ! -name copyright -delete
  find "$root" -name '*.a' ! -name 'libgtest*' ! -name 'libgmock*' ! -name 'libbenchmark*' -delete
  find "$root" -name '*.mod' -delete
  rm -f "$root"/usr/lib/x86_64-linux-gnu/openblas-openmp/liblapack.so.3
  if [ -d "$root/usr/include/boost" ]; then
    local keep
    keep=$(boost_keep "$root") || { rm -rf "$dir"; return 1; }
    for entry in "$root"/usr/include/boost/*; do
      grep -qxF "$(basename "$entry")" <<<"$keep" || rm -rf "$entry"
    done
  fi
  (cd "$root" && while read -r link; do [ -z "$link" ] || [ -e "$link" ] || rm -f "$link"; done <<<"$inside")
  find "$root" -depth -type d -empty -delete
  dpkg-deb --root-owner-group -Zxz -z9 -Sextreme -b "$root" "$deb.tmp" >/dev/null || return 1
  mv "$deb.tmp" "$deb" || return 1
  rm -rf "$dir"
}
before=$(du -cb .debs/*.deb | tail -n 1 | cut -f1)
rm -f .debs/trim-failed
# shellcheck disable=SC2045  # package file names have no spaces
for deb in $(ls -S .debs/*.deb); do  # largest first; two at a time (xz -9e takes ~700 MiB per compressor)
  while [ "$(jobs -rp | wc -l)" -ge 2 ]; do wait -n || true; done
  { trim_deb "$deb" || echo "$deb" >>.debs/trim-failed; } &
done
wait
[ ! -f .debs/trim-failed ] || { echo "fetch_debs: trimming failed: $(cat .debs/trim-failed)" >&2; exit 1; }
echo "fetch_debs: link packages trimmed from $((before / 1024 / 1024)) to $(($(du -cb .debs/*.deb | tail -n 1 | cut -f1) / 1024 / 1024)) MiB"
bash launch/gpu/pack_fmnist.sh --out .debs/fmnist

# What the device tool carries: the working tree (tracked and untracked-not-ignored files) plus .debs.
tree=$(git ls-files -z --cached --others --exclude-standard | xargs -0 -r stat -c %s -- 2>/dev/null | awk '{s += $1} END {print s + 0}')
debs=$(du -sb .debs | cut -f1)
limit=$((64 * 1024 * 1024))
echo "fetch_debs: $(ls .debs/*.deb | wc -l) + $(ls .debs/runtime/*.deb | wc -l) packages and Fashion-MNIST:" \
  "$((debs / 1024)) KiB in .debs + $((tree / 1024)) KiB of working tree = $(((debs + tree) / 1024)) KiB of" \
  "$((limit / 1024)) KiB the device tool carries"
[ $((debs + tree)) -lt $limit ] || { echo "fetch_debs: over the 64 MiB the device tool carries" >&2; exit 1; }
