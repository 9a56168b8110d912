# Sourced by tests/launch/train_preempt.sh and slurm_preempt.sh (with lib/tiny_job.sh): a preempted run, checked.
#   wait_for_text FILE TEXT SECONDS   polls until FILE holds TEXT (a fixed string); fails after SECONDS
#   check_preempted LOG DIR           LOG has tessera's one "preempted by ... after step S (epoch E, batch B of N):
#                                     checkpoint FILE; exit 75" line, with 0 < B < N (inside an epoch), FILE is in
#                                     DIR and h5py reads step S and the loader position B from it, and DIR holds no
#                                     temporary file; sets $preempted_step, $preempted_batch, $preempted_epoch and
#                                     $preempted_cause
#   same_metrics A.csv B.csv          the same rows (epoch, step, losses, accuracies, lr; not the timings), the
#                                     interrupted epochs' too: their training means go on from the sums in the
#                                     checkpoint (meta epoch_sums), so they are bitwise the uninterrupted run's
wait_for_text() {
  local file=$1 text=$2 deadline=$((SECONDS + $3))
  until grep -qF -- "$text" "$file" 2>/dev/null; do
    [ "$SECONDS" -lt "$deadline" ] || { echo "FAIL: no '$text' in $file after $3 s"; cat "$file"; exit 1; }
    sleep 0.05
  done
}

check_preempted() {
  local log=$1 dir=$2 line
  [ "$(grep -c '^preempted by ' "$log")" -eq 1 ] || { cat "$log"; echo "FAIL: $log: not one 'preempted by' line"; exit 1; }
  line=$(grep '^preempted by ' "$log")
  echo "$line"
  [[ "$line" =~ ^preempted\ by\ (.*)\ after\ step\ ([0-9]+)\ \(epoch\ ([0-9]+),\ batch\ ([0-9]+)\ of\ ([0-9]+)\):\ checkpoint\ ([^;]+)\;\ exit\ 75 ]] \
    || { echo "FAIL: $log: unexpected line"; exit 1; }
  preempted_cause=${BASH_REMATCH[1]} preempted_step=${BASH_REMATCH[2]} preempted_epoch=${BASH_REMATCH[3]}
  preempted_batch=${BASH_REMATCH[4]}
  local batches=${BASH_REMATCH[5]} file=${BASH_REMATCH[6]}
  [ "$preempted_batch" -gt 0 ] && [ "$preempted_batch" -lt "$batches" ] \
    || { echo "FAIL: stopped at batch $preempted_batch of $batches, not inside an epoch"; exit 1; }
  [ "$(dirname "$file")" = "$dir" ] || { echo "FAIL: checkpoint $file is not in $dir"; exit 1; }
  ! ls "$dir" | grep -q '\.tmp-' || { ls "$dir"; echo "FAIL: a temporary checkpoint file is left in $dir"; exit 1; }
  "$TESSERA_PYTHON" - "$file" "$preempted_step" "$preempted_batch" <<'PY' || { echo "FAIL: $file"; exit 1; }
import json, sys
import h5py
path, step, batch = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
with h5py.File(path, "r") as f:
    meta = json.loads(f.attrs["meta"])
    assert int(f.attrs["step"]) == step, (int(f.attrs["step"]), step)
    assert meta["train"]["position"] == batch, meta["train"]
print(f"{path}: step {step}, loader position {batch} (inside epoch {meta['train']['epoch'] + 1})")
PY
}

same_metrics() {
  "$TESSERA_PYTHON" - "$@" <<'PY' || { echo "FAIL: $1 and $2 differ"; exit 1; }
import csv, sys
keys = ["epoch", "step", "loss", "accuracy", "val_loss", "val_accuracy", "lr"]
def rows(path):
    return [{k: r[k] for k in keys} for r in csv.DictReader(open(path))]
a, b = rows(sys.argv[1]), rows(sys.argv[2])
assert len(a) == len(b), f"{len(a)} rows against {len(b)}"
assert a == b, "\n".join(f"{x}\n{y}" for x, y in zip(a, b) if x != y)
print(f"same metrics rows ({len(a)} epochs): {sys.argv[1]} {sys.argv[2]}")
PY
}
