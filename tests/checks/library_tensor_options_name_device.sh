#!/usr/bin/env bash
# Build check (ctest checks.library_tensor_options_name_device): inside ops, autograd, optimizers, io and
# distributed, every TensorOptions literal names its device ({.dtype = ..., .device = x.device()} or Device() for
# host memory), so results follow their inputs' device instead of the default device. Modules and user-facing
# factory defaults (core/nn, core/ops/factory.h) follow the default device on purpose, as in PyTorch.
# Usage: library_tensor_options_name_device.sh SOURCE_DIR
set -uo pipefail
source_dir=${1:?usage: library_tensor_options_name_device.sh SOURCE_DIR}
cd "$source_dir" || exit 1
# grep exits 2 on an error (a renamed path): that must fail the check, not pass it as "nothing found".
literals=$(grep -rnE '\{\.dtype = [^}]*\}' core/ops core/optim core/autograd core/tensor.cpp distributed io \
             --include='*.cpp' --include='*.h')
[ $? -le 1 ] || { echo "grep failed: a path this check reads is gone"; exit 1; }
offenders=$(echo "$literals" | grep -v '\.device' | grep -v '^core/ops/factory\.h:' | grep .)
if [ -n "$offenders" ]; then
  echo "TensorOptions without a device (ops must allocate on their inputs' device; Device() for host memory):"
  echo "$offenders"
  exit 1
fi
echo "every library TensorOptions literal names its device"
