# Sourced by tests/launch/slurm_*.sh: a private one-node SLURM cluster (munged, slurmctld, slurmd) that lives in a
# temporary directory and goes away with the test.
#   start_slurm_cluster [CPUS]  starts it (CPUS default 2), exports SLURM_CONF for sbatch/srun/squeue/scontrol and
#                               installs stop_slurm_cluster as the EXIT trap; fails with the daemons' log tails,
#                               never hangs, when something does not come up. Sets $slurm_cluster_task_plugin
#                               (task/affinity: srun binds ranks to CPUs; task/none on a machine with fewer CPUs)
#   stop_slurm_cluster          cancels its jobs and ends the daemons it started (by PID); safe to call twice
#
# Private means: its own munge key and socket, slurm.conf, state/spool/log directories and TCP ports picked free by
# the kernel, so a munged or SLURM already running on the machine (or a second copy of this test) is not touched
# and does not interfere. SLURM_*/SBATCH_*/SRUN_*/SALLOC_* variables inherited from an outer job are dropped, or
# sbatch/srun would address that job on this cluster. Runs as root (as CI does: slurmd must be root to start jobs;
# munged then runs as user munge); slurmd must run as root, so as another user the caller skips.
# Needs the Debian packages slurm-wlm and munge (launch/setup.sh installs them).

slurm_cluster_dir=""
slurm_cluster_pids=()   # munged, slurmctld, slurmd, as far as started
slurm_cluster_names=()
slurm_cluster_watcher=""

# slurm_cluster_fail MESSAGE: says what did not come up, shows the daemons' logs, and ends the test (the EXIT trap
# stops what did start).
slurm_cluster_fail() {
  echo "FAIL: slurm_cluster: $1" >&2
  local log
  for log in "$slurm_cluster_dir"/log/*.stderr; do
    [ -s "$log" ] && { echo "--- last lines of $log" >&2; tail -n 20 "$log" >&2; }
  done
  # slurmctld (the second daemon) up: what it knows of the node, e.g. why it is down.
  if ((${#slurm_cluster_pids[@]} >= 3)) && kill -0 "${slurm_cluster_pids[1]}" 2>/dev/null; then
    timeout 5 scontrol show node localhost >&2 || true
  fi
  exit 1
}

# slurm_cluster_wait SECONDS WHAT COMMAND...: polls COMMAND every 0.2 s until it succeeds; fails naming WHAT after
# SECONDS, or at once when one of the daemons has exited.
slurm_cluster_wait() {
  local seconds=$1 what=$2 i
  shift 2
  local deadline=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    for i in "${!slurm_cluster_pids[@]}"; do
      kill -0 "${slurm_cluster_pids[i]}" 2>/dev/null || slurm_cluster_fail "$what: ${slurm_cluster_names[i]} exited"
    done
    [ "$SECONDS" -lt "$deadline" ] || slurm_cluster_fail "$what: not after $seconds s"
    sleep 0.2
  done
}

# Two TCP ports that are free now: bound together (so they differ) on port 0, then released.
slurm_cluster_free_ports() {
  python3 -c 'import socket
s = [socket.socket() for _ in range(2)]
for x in s: x.bind(("127.0.0.1", 0))
print(*(x.getsockname()[1] for x in s))'
}

slurm_cluster_node_idle() { [ "$(sinfo -h -n localhost -o %t)" = idle ]; }

start_slurm_cluster() {
  local cpus=${1:-2} tool
  for tool in munged mungekey slurmctld slurmd sbatch srun scontrol sinfo squeue scancel setpriv python3; do
    command -v "$tool" >/dev/null || { echo "FAIL: slurm_cluster: '$tool' not found: install the Debian packages" \
      "slurm-wlm and munge (bash launch/setup.sh --no-build)" >&2; exit 1; }
  done
  local variable
  for variable in $(compgen -e); do
    case $variable in SLURM_* | SBATCH_* | SRUN_* | SALLOC_*) unset "$variable" ;; esac
  done

  slurm_cluster_dir=$(mktemp -d /tmp/tessera-slurm.XXXXXX)
  trap stop_slurm_cluster EXIT
  local dir=$slurm_cluster_dir
  chmod 755 "$dir"  # munged (user munge) must reach its own subdirectory
  mkdir -p "$dir"/{munge,state,spool,log,tmp}

  # munge: a fresh key; the daemon runs as user munge when we are root (munged's own rule for its files).
  local as_munge=()
  if [ "$(id -u)" -eq 0 ]; then
    chown munge:munge "$dir/munge"
    as_munge=(setpriv --reuid=munge --regid=munge --init-groups)
  fi
  chmod 755 "$dir/munge"  # munged wants its socket directory searchable by all; the key itself is 0600
  "${as_munge[@]}" mungekey --create --keyfile="$dir/munge/munge.key" || slurm_cluster_fail "mungekey failed"
  "${as_munge[@]}" munged --foreground --socket="$dir/munge/munge.socket" --key-file="$dir/munge/munge.key" \
    --pid-file="$dir/munge/munged.pid" --seed-file="$dir/munge/munged.seed" --log-file=/dev/null \
    </dev/null >>"$dir/log/munged.stderr" 2>&1 &
  slurm_cluster_pids+=($!) slurm_cluster_names+=(munged)
  slurm_cluster_wait 10 "munged did not open its socket $dir/munge/munge.socket" test -S "$dir/munge/munge.socket"

  local ports ctld_port slurmd_port
  ports=$(slurm_cluster_free_ports) || slurm_cluster_fail "no free TCP ports"
  read -r ctld_port slurmd_port <<<"$ports"
  local user
  user=$(id -un)
  # Binding as on a real cluster (task/affinity: sched_setaffinity, no cgroups) when this machine has the CPUs the
  # node line claims; otherwise none, and srun --cpu-bind only warns.
  slurm_cluster_task_plugin=task/none
  [ "$(env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc)" -ge "$cpus" ] && slurm_cluster_task_plugin=task/affinity
  # Plugins that need no cgroups or accounting database: processes tracked through /proc.
  cat >"$dir/slurm.conf" <<EOF
ClusterName=tessera-test
SlurmctldHost=localhost
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
SlurmUser=$user
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$dir/munge/munge.socket
MpiDefault=pmix
ProctrackType=proctrack/linuxproc
TaskPlugin=$slurm_cluster_task_plugin
SwitchType=switch/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
PlugStackConfig=$dir/plugstack.conf
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
# Names another cluster on this machine (e.g. two tests at once) would otherwise share: srun's PMIx directories
# (TmpFS/spmix_appdir_UID_JOB.STEP) and Open MPI's shared-memory segments (/dev/shm/vader_segment.HOST.*, named from
# the PMIx namespace slurm.pmix.JOB.STEP). So: a private TmpFS and job ids from a random start.
TmpFS=$dir/tmp
FirstJobId=$((1000 + RANDOM * 30 + RANDOM % 30))
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldDebug=info
SlurmdDebug=info
# This machine's hardware need not match the node line below.
SlurmdParameters=config_overrides
ReturnToService=2
# A job's processes get SIGKILL 2 s after SIGTERM (default 30 s): a failing job ends quickly.
KillWait=2
# sbatch --wait multiplies its poll interval by 4 (2, 8, 32 s) while it is below MinJobAge/2 (default 300 s), so a
# 3 s job would return after 10 s; with MinJobAge=4 it polls every 2 s. Completed jobs stay listed >= 4 s.
MinJobAge=4
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$cpus State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
EOF
  : >"$dir/plugstack.conf"  # not the machine's /etc/slurm/plugstack.conf
  export SLURM_CONF=$dir/slurm.conf

  slurmctld -D -i -f "$SLURM_CONF" </dev/null >>"$dir/log/slurmctld.stderr" 2>&1 &
  slurm_cluster_pids+=($!) slurm_cluster_names+=(slurmctld)
  slurm_cluster_wait 20 "slurmctld did not answer 'scontrol ping'" sh -c 'scontrol ping | grep -q UP'
  slurmd -D -N localhost -f "$SLURM_CONF" </dev/null >>"$dir/log/slurmd.stderr" 2>&1 &
  slurm_cluster_pids+=($!) slurm_cluster_names+=(slurmd)
  slurm_cluster_wait 30 "node localhost did not become idle" slurm_cluster_node_idle
  # If the test itself is killed (SIGKILL, or SIGTERM, which bash does not trap), its EXIT trap never runs: a
  # watcher, deaf to those signals, then stops the cluster once the test's shell is gone.
  (trap '' INT TERM; while kill -0 $$ 2>/dev/null; do sleep 1; done; stop_slurm_cluster) </dev/null >/dev/null 2>&1 &
  slurm_cluster_watcher=$!
  echo "slurm_cluster: up in $dir (slurmctld port $ctld_port, slurmd port $slurmd_port, $cpus CPUs," \
    "$slurm_cluster_task_plugin)"
}

stop_slurm_cluster() {
  [ -n "$slurm_cluster_dir" ] || return 0
  local pid deadline
  if [ -n "$slurm_cluster_watcher" ]; then  # reaped here with stderr closed: no "Killed" notice in the test log
    { kill -KILL "$slurm_cluster_watcher"; wait "$slurm_cluster_watcher"; } 2>/dev/null || true
  fi
  if ((${#slurm_cluster_pids[@]} >= 3)); then  # slurmd up: end jobs first, their steps are not slurmd's children
    scancel --quiet --partition=debug 2>/dev/null || true
    deadline=$((SECONDS + 10))
    while [ -n "$(squeue -h -t R,CG -o %i 2>/dev/null)" ] && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.2; done
  fi
  for pid in "${slurm_cluster_pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  deadline=$((SECONDS + 10))
  for pid in "${slurm_cluster_pids[@]}"; do
    while kill -0 "$pid" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$slurm_cluster_dir"
  slurm_cluster_dir=""
  slurm_cluster_pids=() slurm_cluster_names=() slurm_cluster_watcher=""
}
