#!/usr/bin/env bash
# Build check (ctest checks.core_uses_backend_only): core/ reaches kernels only through kernels/backend.h and the
# backend-neutral headers beside it (kernels/common, elementwise_args.h, philox.h, ...), never kernels/cpu or
# kernels/cuda, so every op runs on any device the build has. Fails naming each offending include.
# Usage: core_uses_backend_only.sh SOURCE_DIR
set -uo pipefail
source_dir=${1:?usage: core_uses_backend_only.sh SOURCE_DIR}
offenders=$(cd "$source_dir" && grep -rnE '#include[[:space:]]+"kernels/(cpu|cuda)/' core)
[ $? -le 1 ] || { echo "grep failed: is $source_dir/core there?"; exit 1; }  # 2: an error, not "no match"
if [ -n "$offenders" ]; then
  echo "core/ must not include device-specific kernels (use kernels/backend.h through core/backend_of.h):"
  echo "$offenders"
  exit 1
fi
echo "core/ includes no kernels/cpu or kernels/cuda header"
