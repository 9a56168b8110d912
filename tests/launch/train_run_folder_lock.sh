#!/usr/bin/env bash
# One `tessera train` at a time in a run folder (launch/cli/run_folder_lock.h). Before the lock, a second run started
# while the first still wrote the same checkpoint.dir and log_dir went ahead: a --resume continued from a checkpoint
# the first run was about to supersede, and its start removed the temporary checkpoint file the first was filling.
# Run A (1 rank, --resume) is held after step 33 (TESSERA_FAULT_HOLD_AT_STEP: it waits there for a signal, 60 s at
# most), so it holds both folders however fast the machine trains. Meanwhile, each of these must fail on its own,
# naming the folder, the lock file and A's pid, train nothing and change no file (a temporary file named as A's is
# left alone): a --resume, a fresh run, a fresh run with --overwrite, a --resume into another checkpoint.dir but the
# same log_dir, and a 2-rank --resume under mpirun (rank 0's error ends both ranks). Then A, sent SIGUSR1, stops
# there as a preempted run does (exit 75, its checkpoint written) and a --resume finishes it. A run killed by SIGKILL
# leaves its host and pid in the lock file, but no lock: the next --resume starts at once.
set -uo pipefail
tessera=$1
source "$TESSERA_SOURCE_DIR/tests/launch/lib/failing_job.sh"
source "$TESSERA_SOURCE_DIR/tests/launch/lib/tiny_job.sh"
source "$TESSERA_SOURCE_DIR/tests/launch/lib/preempt_job.sh"
make_tiny_job
config=(tiny.json --set log_dir=runs/log --progress lines)
host=$(uname -n)  # gethostname(), as the lock file records it
held=""
trap '[ -z "$held" ] || kill -KILL $held 2>/dev/null' EXIT  # a run left holding after a failure
train() {  # train LOG [args...]: a run that must succeed
  local log=$1 status=0
  shift
  timeout 120 "$tessera" train "${config[@]}" "$@" >"$log" 2>&1 || status=$?
  [ "$status" -eq 0 ] || { cat "$log"; echo "FAIL: $log: exit $status"; exit 1; }
}
hold() {  # hold LOG STEP [args...]: starts a 1-rank run in the background held after STEP; sets $held (its pid)
  local log=$1 step=$2
  shift 2
  TESSERA_FAULT_HOLD_AT_STEP=$step "$tessera" train "${config[@]}" "$@" >"$log" 2>&1 &
  held=$!
  wait_for_text "$log" "rank 0 holds after step $step for a signal" 60
}
files() { (cd runs && find . -type f ! -name 'events.*' | sort | xargs md5sum); }

train first.txt
hold a.txt 33 --resume --set epochs=3
a=$held
for lock in runs/ckpt/.tessera.lock runs/log/.tessera.lock; do
  grep -q "^host $host, pid $a, since " "$lock" || { cat "$lock"; echo "FAIL: $lock does not name run A"; exit 1; }
done
touch "runs/ckpt/ckpt-000000064.h5.tmp-$a"  # as the temporary file of a checkpoint A is writing
before=$(files)

refused() {  # refused NAME FOLDER KEY COMMAND...: fails naming FOLDER (config KEY) and run A, changing nothing
  local name=$1 folder=$2 key=$3
  shift 3
  echo "### $name"
  run_failing_job "$@"
  cp out.txt "refused_$name.txt"
  expect_output "train: run folder '$folder' ($key) is in use by another tessera train (host $host, pid $a, since " \
    "which holds the lock $folder/.tessera.lock; wait for it to end or stop it"
  ! grep -qE "^Epoch|holds another run's files|^removed " out.txt || { echo "FAIL: $name went on"; exit 1; }
  [ "$(files)" = "$before" ] || { diff <(echo "$before") <(files); echo "FAIL: $name changed files"; exit 1; }
  echo "refused after $elapsed s"
}
refused resume runs/ckpt checkpoint.dir "$tessera" train "${config[@]}" --resume --set epochs=3
refused fresh runs/ckpt checkpoint.dir "$tessera" train "${config[@]}"
refused overwrite runs/ckpt checkpoint.dir "$tessera" train "${config[@]}" --overwrite
refused log_dir runs/log log_dir "$tessera" train "${config[@]}" --set checkpoint.dir=runs/other
refused two_ranks runs/ckpt checkpoint.dir $MPIRUN -n 2 "$tessera" train "${config[@]}" --resume --set epochs=3
expect_output "[rank 0 of 2] tessera train: error: train: run folder 'runs/ckpt'"
kill -0 "$a" 2>/dev/null ||
  { cat a.txt; echo "FAIL: run A ended (its hold lasts 60 s) before the refused runs did"; exit 1; }

echo "### run A goes on: stopped by SIGUSR1 as a preempted run, then resumed to the end"
kill -USR1 "$a"
status=0
wait "$a" || status=$?
held=""
[ "$status" -eq 75 ] && grep -q "^preempted by SIGUSR1 after step 33 (epoch 2, batch 1 of 32)" a.txt ||
  { cat a.txt; echo "FAIL: run A: exit $status"; exit 1; }
[ ! -s runs/ckpt/.tessera.lock ] && [ ! -s runs/log/.tessera.lock ] ||
  { echo "FAIL: run A ended, but the lock files still name it"; exit 1; }
train a_resumed.txt --resume --set epochs=3
grep "resumed from\|^removed" a_resumed.txt
grep -q "resumed from runs/ckpt/ckpt-000000033.h5 at step 33, epoch 2" a_resumed.txt &&
  grep -q "^removed runs/ckpt/ckpt-000000064.h5.tmp-$a: a temporary checkpoint file left by a run that was killed" \
    a_resumed.txt && grep -q "^test:" a_resumed.txt || { cat a_resumed.txt; echo "FAIL: run A's resume"; exit 1; }

echo "### a run killed by SIGKILL leaves no lock"
hold killed.txt 97 --resume --set epochs=4
killed=$held
kill -KILL "$killed"
wait "$killed" 2>/dev/null
held=""
grep -q "pid $killed, since " runs/ckpt/.tessera.lock ||
  { cat runs/ckpt/.tessera.lock; echo "FAIL: the lock file does not name the killed run"; exit 1; }
start=$SECONDS
train after_kill.txt --resume --set epochs=4
grep -q "resumed from runs/ckpt/ckpt-000000096.h5 at step 96, epoch 4" after_kill.txt &&
  grep -q "^test:" after_kill.txt ||
  { cat after_kill.txt; echo "FAIL: the --resume after the kill"; exit 1; }
echo "resumed after the kill in $((SECONDS - start)) s"
echo "run folder lock OK"
