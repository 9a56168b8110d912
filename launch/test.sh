#!/usr/bin/env bash
# Sets up the machine (launch/setup.sh: packages + build; launch/test_venv.sh: the PyPI packages tests use),
# then runs every test with ctest.
# Extra arguments go to ctest (for example -R Autograd).
set -euo pipefail
cd "$(dirname "$0")/.."
bash launch/setup.sh
bash launch/test_venv.sh
build_dir=${TESSERA_BUILD_DIR:-build}
# setup.sh installed every test dependency (torch, jsonschema, pandas, Pillow, Fashion-MNIST, ONNX): a test that
# misses one fails instead of skipping (tests/launch/lib/dependencies.sh, tests/support/torch_ref.cpp).
export TESSERA_REQUIRE_TEST_DEPS=${TESSERA_REQUIRE_TEST_DEPS:-1}
ctest --test-dir "$build_dir" --output-on-failure -j "${TESSERA_TEST_JOBS:-$(nproc)}" "$@"
