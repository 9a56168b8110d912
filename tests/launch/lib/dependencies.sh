# Sourced by test scripts whose dependency may be absent (a Python module, the Fashion-MNIST package, a build
# feature). ctest counts a skip (exit 77) apart from a failure, and a summary of "all passed" hides it: where the
# runner promised every dependency (TESSERA_REQUIRE_TEST_DEPS=1, set by launch/test.sh and so by CI, after
# launch/setup.sh installed them) a missing one fails the test instead.

# missing_dependency <what is missing>: fail or skip, as above.
missing_dependency() {
  if [ "${TESSERA_REQUIRE_TEST_DEPS:-0}" != 0 ]; then
    echo "FAIL: $1, but launch/setup.sh installs it (TESSERA_REQUIRE_TEST_DEPS is set)"
    exit 1
  fi
  echo "$1; skipping"
  exit 77
}

fashion_mnist_source=/usr/share/datasets/fashion-mnist

# require_fashion_mnist: the Debian package dataset-fashion-mnist's files.
require_fashion_mnist() {
  [ -f "$fashion_mnist_source/train-images-idx3-ubyte.gz" ] ||
    missing_dependency "dataset-fashion-mnist is not installed ($fashion_mnist_source)"
}

# require_python_module <module> <package>: TESSERA_PYTHON imports it.
require_python_module() {
  "$TESSERA_PYTHON" -c "import $1" 2>/dev/null || missing_dependency "$TESSERA_PYTHON cannot import $1 ($2)"
}
