#!/usr/bin/env bash
# The README's main command: sets up the machine (packages + build), then runs the main job.
# Until the data and training issues land, the main job is `tessera demo`: a small CPU training run whose loss
# falls and whose accuracy rises.
set -euo pipefail
cd "$(dirname "$0")/.."
bash launch/setup.sh
build_dir=${TESSERA_BUILD_DIR:-build}
"$build_dir/bin/tessera" demo "$@"
