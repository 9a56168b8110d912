# Sourced by tests/launch/*.sh that run a job which must fail (not itself a test: only launch/*.sh are).
# expect_job_failure TEXT... -- MPIRUN_ARGS...
#   Runs `$MPIRUN MPIRUN_ARGS...` under `timeout 120` with output in out.txt, prints it, and fails the test unless
#   the job exited non-zero, did not hang (exit 124 is timeout's), and its output contains every TEXT (fixed strings).
expect_job_failure() {
  local texts=()
  while [ $# -gt 0 ] && [ "$1" != "--" ]; do texts+=("$1"); shift; done
  shift
  local start=$SECONDS status
  timeout 120 $MPIRUN "$@" >out.txt 2>&1
  status=$?
  cat out.txt
  [ "$status" -ne 0 ] || { echo "FAIL: the job exited 0"; exit 1; }
  [ "$status" -ne 124 ] || { echo "FAIL: the job hung until timeout 120"; exit 1; }
  local text
  for text in "${texts[@]}"; do
    grep -qF -- "$text" out.txt || { echo "FAIL: the output lacks: $text"; exit 1; }
  done
  echo "OK: exit $status after $((SECONDS - start)) s with the expected message"
}
