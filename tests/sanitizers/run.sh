#!/usr/bin/env bash
# Builds Tessera's CPU build with AddressSanitizer + UBSan, or ThreadSanitizer, in BUILD_DIR and runs ctest there.
#   bash tests/sanitizers/run.sh asan|tsan BUILD_DIR [ctest arguments, e.g. -R '^io\.']
# Not part of CI (a whole instrumented build plus a 2-10x slower suite). Leaves out the tests that build or start
# other things (the installed package, SLURM, two hosts) and the GPU entries. tsan writes its reports under
# BUILD_DIR/tsan-reports and groups them with triage.py, leaving out reports inside uninstrumented libraries (MPI,
# HDF5, libgomp): a test it fails for them (TSan's exit code 66) is not failing on Tessera's code.
set -euo pipefail
kind=${1:-}
build=${2:-}
case $kind in
  asan) flags="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer -O1" ;;
  tsan) flags="-fsanitize=thread -fno-omit-frame-pointer -O1" ;;
  *) kind= ;;
esac
if [ -z "$kind" ] || [ -z "$build" ]; then
  echo "usage: bash tests/sanitizers/run.sh asan|tsan BUILD_DIR [ctest arguments]" >&2
  exit 2
fi
shift 2
here=$(cd "$(dirname "$0")" && pwd)
source_dir=$(cd "$here/../.." && pwd)
cmake -S "$source_dir" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTESSERA_CUDA=OFF \
  -DTESSERA_BUILD_BENCHMARKS=OFF "-DCMAKE_CXX_FLAGS=$flags" "-DCMAKE_C_FLAGS=$flags" \
  "-DCMAKE_EXE_LINKER_FLAGS=$flags" "-DCMAKE_SHARED_LINKER_FLAGS=$flags"
ninja -C "$build"
[ $# -gt 0 ] || set -- -E 'install_package|two_hosts|slurm|cuda$'
status=0
if [ "$kind" = asan ]; then
  ASAN_OPTIONS=detect_leaks=0 ctest --test-dir "$build" -j1 --output-on-failure "$@" || status=$?
else
  reports="$build/tsan-reports"
  rm -rf "$reports" && mkdir -p "$reports"
  # One thread per process for Tessera's OpenMP regions: libgomp's barriers are invisible to TSan.
  TSAN_OPTIONS="suppressions=$here/tsan.supp log_path=$reports/report halt_on_error=0" TESSERA_NUM_THREADS=1 \
    ctest --test-dir "$build" -j1 --output-on-failure "$@" || status=$?
  python3 "$here/triage.py" "$source_dir" "$reports"/report.* 2>/dev/null || echo "no TSan reports"
fi
exit $status
