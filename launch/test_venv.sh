#!/usr/bin/env bash
# The test virtual environment (.venv): PyPI packages the tests need that Debian does not package: TensorBoard, whose
# own event-file reader checks the files Tessera writes, and onnxruntime, which runs the models `tessera export`
# writes. Idempotent: a working venv is kept.
# Built on Debian's python3 (--system-site-packages: numpy, h5py and torch stay Debian's).
set -euo pipefail
cd "$(dirname "$0")/.."
venv=.venv
if "$venv/bin/python" -c "import tensorboard, onnxruntime" >/dev/null 2>&1; then exit 0; fi
echo "test_venv: creating $venv with tensorboard and onnxruntime"
rm -rf "$venv"
/usr/bin/python3 -m venv --system-site-packages "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check "tensorboard==2.21.0" "onnxruntime==1.20.1"
