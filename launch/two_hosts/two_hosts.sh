# Two emulated hosts on one machine, for multi-host launch tests and benchmarks (sourced by bash scripts).
# Each "host" is a network namespace with an address of its own on a veth pair joining the two, and a hostname of
# its own (a UTS namespace per process tree); files are shared, as on a cluster with a shared home. mpirun runs on
# host a; Open MPI starts its daemon on host b through agent.sh (in place of ssh), and ranks talk over TCP across
# the veth pair (shared memory only between ranks of one host). Needs root, iproute2 and util-linux's unshare.
#
#   two_hosts_probe         exit status 0 when namespaces can be made here, else prints why (to stdout)
#   two_hosts_up            makes the namespaces and the link; sets TWO_HOSTS_A/B (addresses, used as host names),
#                           TWO_HOSTS_SUBNET, TWO_HOSTS_IF_A/B (interfaces), TWO_HOSTS_NAME_A/B (hostnames);
#                           call two_hosts_down from an EXIT trap
#   two_hosts_down          removes them (the veth pair goes with its namespaces); safe to call twice
#   $TWO_HOSTS_MPIRUN N_A N_B MPIRUN_ARGS... -- COMMAND...
#                           mpirun on host a (mpirun.sh, a program, so `timeout` can run it), after two_hosts_up
#   two_hosts_tx_bytes      bytes host a has sent over the link so far
# Names carry this shell's pid, so concurrent users do not collide; addresses live inside the namespaces only.
TWO_HOSTS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TWO_HOSTS_MPIRUN=$TWO_HOSTS_DIR/mpirun.sh

two_hosts_probe() {
  [ "$(id -u)" -eq 0 ] || { echo "not root: cannot create network namespaces"; return 1; }
  command -v ip >/dev/null || { echo "no 'ip' (iproute2): cannot create network namespaces"; return 1; }
  command -v unshare >/dev/null || { echo "no 'unshare' (util-linux): cannot give each host its own name"; return 1; }
  local probe=tessera-probe-$$ why
  why=$(ip netns add "$probe" 2>&1) || { echo "ip netns add failed: $why"; return 1; }
  why=$(ip netns exec "$probe" unshare --uts true 2>&1) ||
    { ip netns del "$probe"; echo "unshare --uts failed: $why"; return 1; }
  ip netns del "$probe"
}

two_hosts_up() {
  TWO_HOSTS_NS_A=tessera-a-$$ TWO_HOSTS_NS_B=tessera-b-$$
  TWO_HOSTS_IF_A=tsa$$ TWO_HOSTS_IF_B=tsb$$  # interface names: at most 15 characters
  TWO_HOSTS_A=10.213.0.1 TWO_HOSTS_B=10.213.0.2 TWO_HOSTS_SUBNET=10.213.0.0/24
  TWO_HOSTS_NAME_A=host-a TWO_HOSTS_NAME_B=host-b
  ip netns add "$TWO_HOSTS_NS_A" && ip netns add "$TWO_HOSTS_NS_B" &&
    ip link add "$TWO_HOSTS_IF_A" type veth peer name "$TWO_HOSTS_IF_B" &&
    ip link set "$TWO_HOSTS_IF_A" netns "$TWO_HOSTS_NS_A" && ip link set "$TWO_HOSTS_IF_B" netns "$TWO_HOSTS_NS_B" &&
    ip -n "$TWO_HOSTS_NS_A" addr add "$TWO_HOSTS_A/24" dev "$TWO_HOSTS_IF_A" &&
    ip -n "$TWO_HOSTS_NS_B" addr add "$TWO_HOSTS_B/24" dev "$TWO_HOSTS_IF_B" &&
    ip -n "$TWO_HOSTS_NS_A" link set "$TWO_HOSTS_IF_A" up && ip -n "$TWO_HOSTS_NS_B" link set "$TWO_HOSTS_IF_B" up &&
    ip -n "$TWO_HOSTS_NS_A" link set lo up && ip -n "$TWO_HOSTS_NS_B" link set lo up ||
    { echo "two_hosts_up: could not build the namespaces" >&2; return 1; }
  export TWO_HOSTS_NS_A TWO_HOSTS_NS_B TWO_HOSTS_IF_A TWO_HOSTS_IF_B TWO_HOSTS_A TWO_HOSTS_B TWO_HOSTS_SUBNET \
    TWO_HOSTS_NAME_A TWO_HOSTS_NAME_B
  # For agent.sh: ADDRESS=NAMESPACE=HOSTNAME per host.
  export TESSERA_TWO_HOSTS="$TWO_HOSTS_A=$TWO_HOSTS_NS_A=$TWO_HOSTS_NAME_A"
  TESSERA_TWO_HOSTS+=" $TWO_HOSTS_B=$TWO_HOSTS_NS_B=$TWO_HOSTS_NAME_B"
}

two_hosts_down() {
  local ns
  for ns in ${TWO_HOSTS_NS_A:-} ${TWO_HOSTS_NS_B:-}; do
    # Leftover processes would keep a namespace's network alive after its name is gone.
    ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null
    ip netns del "$ns" 2>/dev/null
  done
  TWO_HOSTS_NS_A="" TWO_HOSTS_NS_B=""
}

two_hosts_tx_bytes() {
  ip netns exec "$TWO_HOSTS_NS_A" cat "/sys/class/net/$TWO_HOSTS_IF_A/statistics/tx_bytes"
}
