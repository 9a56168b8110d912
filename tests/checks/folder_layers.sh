#!/usr/bin/env bash
# Build check (ctest checks.folder_layers): each folder includes headers only from the folders before it in the
# stack (kernels, core, io, distributed, launch, tests, benchmarks; the README's architecture), never from one after
# it, and kernels/backend.h stays C++17 (CUDA translation units include it). Fails naming each offending include.
# Usage: folder_layers.sh SOURCE_DIR
set -uo pipefail
source_dir=${1:?usage: folder_layers.sh SOURCE_DIR}
cd "$source_dir" || exit 1
layers=(kernels core io distributed launch tests benchmarks)
status=0
for ((i = 0; i < ${#layers[@]}; ++i)); do
  later=$(IFS='|'; echo "${layers[*]:i+1}")
  [ -n "$later" ] || continue
  offenders=$(grep -rnE --include='*.h' --include='*.cpp' --include='*.cu' --include='*.cuh' \
    "#include[[:space:]]+\"($later)/" "${layers[i]}")
  [ $? -le 1 ] || { echo "grep failed: is ${layers[i]}/ there?"; exit 1; }  # 2: an error, not "no match"
  if [ -n "$offenders" ]; then
    echo "${layers[i]}/ must not include headers of the folders after it ($later):"
    echo "$offenders"
    status=1
  fi
done
compiler=${CXX:-c++}
if command -v "$compiler" > /dev/null; then
  echo '#include "kernels/backend.h"' | "$compiler" -std=c++17 -fsyntax-only -I . -x c++ - ||
    { echo "kernels/backend.h no longer compiles as C++17"; status=1; }
fi
[ "$status" -ne 0 ] || echo "every folder includes only the folders before it; kernels/backend.h is C++17"
exit $status
