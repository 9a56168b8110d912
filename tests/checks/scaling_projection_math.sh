#!/usr/bin/env bash
# Unit check (ctest checks.scaling_projection_math): the alpha-beta formulas of benchmarks/scaling/alpha_beta.py
# (ring, tree, hierarchical all-reduce, the link fit, the overlapped step, DDP's bucket sizes) against values worked
# out by hand. The math only, never a timing. Usage: scaling_projection_math.sh SOURCE_DIR
set -euo pipefail
source_dir=${1:?usage: scaling_projection_math.sh SOURCE_DIR}
/usr/bin/python3 "$source_dir/benchmarks/scaling/test_alpha_beta.py" -v
