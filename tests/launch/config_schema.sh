#!/usr/bin/env bash
# The config reference cannot drift from the code: `tessera train --schema[=markdown]` (recorded from the parser
# itself) must equal the committed docs/config.schema.json and docs/config.md. Then an independent validator
# (python3-jsonschema, Draft 2020-12) checks the schema itself, every config under configs/, and the resolved
# config a real run writes; invalid configs must fail both the schema and `tessera train`. The run also checks
# that `--set` of a variant key (schedule.type, optimizer.type) drops the old variant's keys, leaving a valid config.
set -euo pipefail
tessera=$1
source "$TESSERA_SOURCE_DIR/tests/launch/lib/dependencies.sh"
require_python_module jsonschema python3-jsonschema
docs=$TESSERA_SOURCE_DIR/docs

"$tessera" train --schema > schema.json
"$tessera" train --schema=markdown > config.md
for pair in "schema.json config.schema.json" "config.md config.md"; do
  set -- $pair
  diff -u "$docs/$2" "$1" || { echo "FAIL: docs/$2 differs from the code; regenerate it:" \
    "tessera train --schema$([ "$2" = config.md ] && echo =markdown) > docs/$2"; exit 1; }
done

# A real run, with overrides that switch variants on top of keys of the old ones.
source "$TESSERA_SOURCE_DIR/tests/launch/lib/tiny_job.sh"
make_tiny_job
timeout 120 "$tessera" train tiny.json --progress lines --set log_dir=runs/log --set checkpoint.dir=runs/ckpt \
  --set max_steps=3 --set 'schedule={"type": "step", "step_size": 5, "gamma": 0.5}' --set schedule.type=cosine \
  --set optimizer.beta1=0.8 --set optimizer.type=sgd --set optimizer.momentum=0.9 \
  --set callbacks.early_stopping.monitor=loss > run.txt 2>&1 || { cat run.txt; exit 1; }

# Invalid configs: each breaks one rule the schema states, made from configs/fashion_mnist_mlp.json.
"$TESSERA_PYTHON" - "$TESSERA_SOURCE_DIR" <<'PY'
import copy, glob, json, sys
import jsonschema
source = sys.argv[1]
schema = json.load(open("schema.json"))
jsonschema.Draft202012Validator.check_schema(schema)
validator = jsonschema.Draft202012Validator(schema)
def errors(config):
    return [e.message for e in validator.iter_errors(config)]
for path in sorted(glob.glob(source + "/configs/*.json")) + ["tiny.json"]:
    assert not errors(json.load(open(path))), (path, errors(json.load(open(path))))
resolved = json.load(open("runs/log/config.json"))
assert not errors(resolved), errors(resolved)
assert resolved["schedule"] == {"type": "cosine", "warmup_steps": 0, "min_lr": 0.0}, resolved["schedule"]
assert resolved["optimizer"]["type"] == "sgd" and resolved["optimizer"]["momentum"] == 0.9, resolved["optimizer"]
assert "beta1" not in resolved["optimizer"] and "callbacks" in resolved, resolved
# Both forms the parser takes: init_from as a file name, data.train as one string, loss as a name.
good = json.load(open(source + "/configs/fashion_mnist_mlp.json"))
good.update(init_from="w.h5", data=dict(good["data"], train="train.h5"), loss="mse")
assert not errors(good), errors(good)

base = json.load(open(source + "/configs/fashion_mnist_mlp.json"))
def broken(path, value):  # path "a.b": set; value None: delete
    config = copy.deepcopy(base)
    *parents, last = path.split(".")
    node = config
    for key in parents:
        node = node.setdefault(key, {})
    if value is None: del node[last]
    else: node[last] = value
    return config
cases = [("optimizer", {"type": "sgd", "beta1": 0.9}, "optimizer.beta1"),
         ("schedule", {"type": "step", "warmup_steps": 3}, "schedule.warmup_steps"),
         ("epochs", 0, "epochs"), ("epoch", 3, "epoch"), ("loss", {"type": "hinge"}, "loss.type"),
         ("loss", "hinge", "loss"),
         ("loss", {"type": "mse", "label_smoothing": 0.1}, "loss.label_smoothing"), ("data.train", None, "data.train"),
         ("checkpoint.keep", "3", "checkpoint.keep"), ("init_from", {"exclude": ["head"]}, "init_from.file"),
         ("tensorboard.histogram_every", -1, "tensorboard.histogram_every"),
         ("callbacks.early_stopping", {"mode": "up"}, "callbacks.early_stopping.mode")]
for i, (path, value, key) in enumerate(cases):
    config = broken(path, value)
    assert errors(config), ("the schema accepts", path, value)
    json.dump(config, open(f"bad{i}.json", "w"))
    open(f"bad{i}.key", "w").write(key)
print(f"schema OK: {len(glob.glob(source + '/configs/*.json'))} configs, the resolved config, {len(cases)} invalid configs")
PY
for bad in bad*.json; do
  key=$(cat "${bad%.json}.key")
  if timeout 60 "$tessera" train "$bad" > out.txt 2>&1; then echo "FAIL: tessera train accepted $bad"; exit 1; fi
  grep -q "config: .*$key" out.txt || { echo "FAIL: $bad: expected an error naming $key:"; cat out.txt; exit 1; }
done
echo "config schema OK"
