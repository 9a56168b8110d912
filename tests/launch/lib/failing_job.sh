# Sourced by the tests/launch/dist_*.sh failure scripts: runs a job that must fail, under `timeout 120`, and checks
# that it ended non-zero on its own (not by the timeout), with the expected lines in its output.
#   run_failing_job COMMAND...        sets $status, $elapsed; output in out.txt (and printed)
#   split_at_dashes TEXT... -- CMD... sets texts=(TEXT...) and command=(CMD...), for helpers called that way
#   expect_output "text"...           each text must appear in out.txt (fixed strings), or in $job_output when set
#                                     (failures then name $job_name too)
run_failing_job() {
  local start=$SECONDS
  timeout 120 "$@" >out.txt 2>&1
  status=$?
  elapsed=$((SECONDS - start))
  cat out.txt
  [ "$status" -ne 0 ] || { echo "FAIL: the job exited 0"; exit 1; }
  [ "$status" -ne 124 ] || { echo "FAIL: the job hung until timeout 120"; exit 1; }
}

expect_output() {
  local part file=${job_output:-out.txt}
  for part in "$@"; do
    grep -qF -- "$part" "$file" || { echo "FAIL: ${job_name:+$job_name: }$file lacks '$part'"; exit 1; }
  done
}

split_at_dashes() {
  texts=()
  while [ "$1" != "--" ]; do texts+=("$1"); shift; done
  shift
  command=("$@")
}
