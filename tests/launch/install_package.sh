#!/usr/bin/env bash
# The installed package, as a newcomer gets it (issue 15): plain `cmake -S . -B DIR` (the default generator, Unix
# Makefiles) configures and `make` builds the libraries and `tessera` without tests and benchmarks, with the CUDA
# path wherever nvcc, cuDNN and NCCL are found (as in CI: the Makefile generator once failed on the CUDA dialect);
# `cmake --install` puts them under a prefix; then examples/synthetic_mlp, configured out of tree against that
# prefix (find_package(Tessera), Tessera::tessera), builds and runs. Checks:
#   - the layout: libraries, CMake package, `tessera` (it starts), headers; every `#include "..."` of an installed
#     header resolves inside the installed include folder, and no per-device implementation header is installed;
#   - in a CUDA build, neither the package nor the programs link the driver library (libcuda: only a stub here);
#   - the example learns: training loss at least halved, held-out accuracy above 0.9 (chance 0.1), the checkpoint
#     it writes holds the MLP's weights with their shapes (read with h5py) and its reload scores the same; and the
#     same program data-parallel on 2 ranks under mpirun.
# The slowest test: a second whole library build, about 610 CPU-seconds with the CUDA path (by estimate some
# 6 minutes on an idle 2-core machine; its ctest TIMEOUT and PROCESSORS are set in tests/CMakeLists.txt).
set -euo pipefail
src=$TESSERA_SOURCE_DIR
work=$PWD
jobs=$(nproc)
unset CMAKE_GENERATOR  # the default generator, whatever the caller's environment prefers
start=$SECONDS
phase() { echo "[$((SECONDS - start)) s] $*"; }
fail() { echo "FAIL: $*"; exit 1; }

phase "configure with plain cmake"
cmake -S "$src" -B build -DTESSERA_BUILD_TESTS=OFF -DTESSERA_BUILD_BENCHMARKS=OFF -DTESSERA_CUDA=AUTO \
  >configure.log 2>&1 || { tail -n 40 configure.log; fail "cmake -S . -B build"; }
grep "Tessera:" configure.log
grep -q "^CMAKE_GENERATOR:INTERNAL=Unix Makefiles$" build/CMakeCache.txt || fail "not the Makefile generator"
cuda=0
grep -q "Tessera: CUDA path ON" configure.log && cuda=1

phase "make -j$jobs"
make -C build -j"$jobs" >build.log 2>&1 || { grep -B2 -A12 "rror" build.log | head -n 60; fail "make"; }
phase "cmake --install"
cmake --install build --prefix "$work/prefix" >install.log 2>&1 || { tail -n 20 install.log; fail "cmake --install"; }

package=lib/cmake/Tessera
for f in bin/tessera bin/tessera-run $package/TesseraConfig.cmake $package/TesseraConfigVersion.cmake \
  $package/TesseraTargets.cmake lib/libtessera_core.a include/tessera/core/core.h \
  include/tessera/core/model/model.h include/tessera/distributed/data_parallel_context.h; do
  [ -e "prefix/$f" ] || fail "prefix/$f is not installed"
done
prefix/bin/tessera --version | head -n 1
for internal in kernels/cpu kernels/cuda distributed/mpi distributed/nccl; do
  [ ! -e "prefix/include/tessera/$internal" ] || fail "the per-device implementation headers $internal are installed"
done
(cd prefix/include/tessera && find . -name '*.h' | sed 's|^\./||') >headers.txt
echo "$(wc -l <headers.txt) headers installed"
include_pattern='s/^[[:space:]]*#[[:space:]]*include "\([^"]*\)".*/\1/p'
missing=$(cd prefix/include/tessera && sed -n "$include_pattern" $(cat "$work/headers.txt") | sort -u |
  while read -r h; do [ -f "$h" ] || echo "$h"; done)
[ -z "$missing" ] || fail "installed headers include headers that are not installed: $missing"

phase "the example, out of tree against the prefix"
cmake -S "$src/examples/synthetic_mlp" -B example -DCMAKE_PREFIX_PATH="$work/prefix" >example-configure.log 2>&1 ||
  { tail -n 40 example-configure.log; fail "configuring examples/synthetic_mlp"; }
make -C example -j"$jobs" >example-build.log 2>&1 ||
  { grep -B2 -A12 "rror" example-build.log | head -n 60; fail "make example"; }
if [ "$cuda" = 1 ]; then
  ! grep -rl "cuda_driver\|libcuda\.so" prefix/lib/cmake/Tessera || fail "the package links the CUDA driver library"
  for exe in example/synthetic_mlp prefix/bin/tessera; do
    ! readelf -d "$exe" | grep -q "NEEDED.*libcuda\.so" || fail "$exe links the CUDA driver library"
  done
  echo "CUDA build: no libcuda in the package or the programs"
fi

phase "run it"
./example/synthetic_mlp model.h5 >run.txt 2>&1 || { cat run.txt; fail "synthetic_mlp exited non-zero"; }
cat run.txt
read -r first last < <(sed -n 's/^training loss: \([0-9.]*\) after epoch 1, \([0-9.]*\) after epoch 5$/\1 \2/p' run.txt)
accuracy=$(sed -n 's/^test accuracy: \([0-9.]*\) (chance: 0.1000)$/\1/p' run.txt)
reloaded=$(sed -n 's/^reloaded from model.h5: test accuracy \([0-9.]*\)$/\1/p' run.txt)
[ -n "${first:-}" ] && [ -n "$accuracy" ] && [ -n "$reloaded" ] || fail "the example's output lacks its result lines"
awk -v a="$first" -v b="$last" 'BEGIN { exit !(b < a / 2) }' || fail "training loss $first -> $last: not halved"
awk -v a="$accuracy" 'BEGIN { exit !(a > 0.9) }' || fail "test accuracy $accuracy is not above 0.9"
[ "$reloaded" = "$accuracy" ] || fail "the reloaded model scores $reloaded, the trained one $accuracy"
"$TESSERA_PYTHON" - <<'PY' || fail "model.h5 does not hold the MLP's weights"
import h5py
with h5py.File("model.h5", "r") as f:
    shapes = {name: f["model"][name].shape for name in f["model"]}
expected = {"1.weight": (64, 64), "1.bias": (64,), "3.weight": (10, 64), "3.bias": (10,)}
assert shapes == expected, shapes
print("model.h5 (h5py):", shapes)
PY

phase "run it on 2 ranks"
timeout 120 $MPIRUN -n 2 ./example/synthetic_mlp model-np2.h5 >run-np2.txt 2>&1 ||
  { cat run-np2.txt; fail "synthetic_mlp under mpirun -n 2"; }
grep "accuracy" run-np2.txt
accuracy=$(sed -n 's/^test accuracy: \([0-9.]*\) (chance: 0.1000)$/\1/p' run-np2.txt)
[ -n "$accuracy" ] && awk -v a="$accuracy" 'BEGIN { exit !(a > 0.9) }' || fail "2 ranks: test accuracy '$accuracy'"
reloaded=$(sed -n 's/^reloaded from model-np2.h5: test accuracy \([0-9.]*\)$/\1/p' run-np2.txt)
[ "$reloaded" = "$accuracy" ] || fail "2 ranks: the reloaded model scores '$reloaded', the trained one $accuracy"
phase "OK"
