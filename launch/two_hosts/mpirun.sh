#!/usr/bin/env bash
# mpirun across the two emulated hosts made by two_hosts_up (two_hosts.sh, whose variables it reads):
#   mpirun.sh N_A N_B [MPIRUN_ARGS...] -- COMMAND...
# runs mpirun on host a (its namespace and hostname) with N_A ranks there (ranks 0..N_A-1) and N_B on host b (the
# rest). Host b's daemon starts through agent.sh (Open MPI's rsh launcher, in place of ssh); the TCP transport and
# Open MPI's own out-of-band channel use only the veth pair, so traffic between the hosts really crosses it; ranks
# of one host share memory (vader), as on a real node.
set -euo pipefail
[ $# -ge 3 ] || { echo "usage: mpirun.sh N_A N_B [MPIRUN_ARGS...] -- COMMAND..." >&2; exit 2; }
[ -n "${TWO_HOSTS_NS_A:-}" ] ||
  { echo "mpirun.sh: no two hosts (source two_hosts.sh and call two_hosts_up)" >&2; exit 2; }
on_a=$1 on_b=$2 args=()
shift 2
while [ $# -gt 0 ] && [ "$1" != -- ]; do args+=("$1"); shift; done
[ $# -gt 1 ] || { echo "mpirun.sh: no command after --" >&2; exit 2; }
shift
# The link as a subnet (one interface name would be unknown on the other host, and Open MPI then ignores the list).
links=$TWO_HOSTS_SUBNET
exec ip netns exec "$TWO_HOSTS_NS_A" unshare --uts sh -c 'hostname "$0" && exec "$@"' "$TWO_HOSTS_NAME_A" \
  mpirun -n $((on_a + on_b)) --host "$TWO_HOSTS_A:$on_a,$TWO_HOSTS_B:$on_b" \
  --mca plm_rsh_agent "$(dirname "$0")/agent.sh" --mca btl tcp,vader,self --mca btl_tcp_if_include "$links" \
  --mca oob_tcp_if_include "$links" "${args[@]}" "$@"
