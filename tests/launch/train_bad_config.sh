#!/usr/bin/env bash
# Bad configs under mpirun -n 2: each ends the whole job non-zero, quickly, with one message naming the key path,
# file or layer, before any training step.
set -uo pipefail
tessera=$1
source "$TESSERA_SOURCE_DIR/tests/launch/lib/expect_job_failure.bash"
[ -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] || { echo "dataset-fashion-mnist missing; skipping"; exit 0; }
"$tessera" data fashion-mnist --out data/fmnist --shards 2 >/dev/null || exit 1
config=$TESSERA_SOURCE_DIR/configs/fashion_mnist_cnn.json
no_step() { ! grep -q "^Epoch" out.txt || { echo "FAIL: training started"; exit 1; }; }

expect_job_failure "unknown key optimizer.lrr (allowed here: type, lr, weight_decay, beta1, beta2, eps)" \
  -- -n 2 "$tessera" train "$config" --set optimizer.lrr=0.1
no_step
expect_job_failure "config: epochs: expected an integer, got \"ten\"" -- -n 2 "$tessera" train "$config" --set epochs=ten
no_step
expect_job_failure "config: optimizer.type: \"rmsprop\" is not one of: sgd, adam, adamw" \
  -- -n 2 "$tessera" train "$config" --set optimizer.type=rmsprop
no_step
expect_job_failure "missing/train-*.h5" -- -n 2 "$tessera" train "$config" --set 'data.train=["missing/train-*.h5"]'
no_step
expect_job_failure "dataset 'pixels'" -- -n 2 "$tessera" train "$config" --set data.x=pixels
no_step
# An MLP that forgot its flatten layer: Linear on (N, 1, 28, 28) images.
expect_job_failure "config: model.layers[0] (linear)" "add a flatten layer" "(N, 1, 28, 28)" \
  -- -n 2 "$tessera" train "$config" --set 'model.layers=[{"type": "linear", "out_features": 10}]'
no_step
echo '{"seed": 1, "model": ' > broken.json
expect_job_failure "config file 'broken.json' is not valid JSON" -- -n 2 "$tessera" train broken.json
expect_job_failure "cannot read config file 'absent.json'" -- -n 2 "$tessera" train absent.json
expect_job_failure "unrecognised option '--bogus'" -- -n 2 "$tessera" train "$config" --bogus
echo "bad configs OK"
