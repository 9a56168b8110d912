#!/usr/bin/env bash
# Bad configs under mpirun -n 2: each ends the whole job non-zero, quickly, with one message naming the key path,
# file or layer, before any training step.
set -uo pipefail
tessera=$1
source "$TESSERA_SOURCE_DIR/tests/launch/lib/failing_job.sh"
# bad_job TEXT... -- TESSERA_ARGS...: 2 ranks, must fail with every TEXT in the output and no training step.
bad_job() {
  split_at_dashes "$@"
  run_failing_job $MPIRUN -n 2 "$tessera" train "${command[@]}"
  expect_output "${texts[@]}"
  ! grep -q "^Epoch" out.txt || { echo "FAIL: training started"; exit 1; }
}
source "$TESSERA_SOURCE_DIR/tests/launch/lib/dependencies.sh"
require_fashion_mnist
"$tessera" data fashion-mnist --out data/fmnist --shards 2 >/dev/null || exit 1
config=$TESSERA_SOURCE_DIR/configs/fashion_mnist_cnn.json

bad_job "unknown key optimizer.lrr (allowed here: type, lr, weight_decay, beta1, beta2, eps, clip_grad_norm)" \
  -- "$config" --set optimizer.lrr=0.1
bad_job "config: epochs: expected an integer, got \"ten\"" -- "$config" --set epochs=ten
bad_job "config: optimizer.type: \"rmsprop\" is not one of: sgd, adam, adamw" \
  -- "$config" --set optimizer.type=rmsprop
bad_job "missing/train-*.h5" -- "$config" --set 'data.train=["missing/train-*.h5"]'
bad_job "dataset 'pixels'" -- "$config" --set data.x=pixels
# An MLP that forgot its flatten layer: Linear on (N, 1, 28, 28) images.
bad_job "config: model.layers[0] (linear)" "add a flatten layer" "(N, 1, 28, 28)" \
  -- "$config" --set 'model.layers=[{"type": "linear", "out_features": 10}]'
bad_job "config: cuda_graph: rank" "CUDA graphs need a GPU" -- "$config" --set device=cpu --set cuda_graph=true
# A layer's own bad key is reported as it is, not as data that does not fit the model.
bad_job "unknown key model.layers[0].activation" -- "$config" --set model.layers.0.activation=relu
! grep -q "cannot take the samples" out.txt || { cat out.txt; echo "FAIL: a bad key reported as a data problem"; exit 1; }
bad_job "model.layers.99999999999999999999=1" "not an element of the list" \
  -- "$config" --set model.layers.99999999999999999999=1
echo '{"seed": 1e999}' > huge.json
bad_job "config file 'huge.json' is not valid JSON" -- huge.json
echo '{"seed": 1, "model": ' > broken.json
bad_job "config file 'broken.json' is not valid JSON" -- broken.json
echo '{"seed": 1, "model": {"layers": [{"type": "flatten"}, {"type": "linear", "out_features": 8, "out_features": 10}]}}' \
  > twice.json
bad_job "config file 'twice.json': key model.layers[1].out_features appears twice in one object" -- twice.json
bad_job "cannot read config file 'absent.json'" -- absent.json
bad_job "unrecognised option '--bogus'" -- "$config" --bogus
echo "bad configs OK"
