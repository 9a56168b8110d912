#!/bin/sh
# Open MPI launch agent for two emulated hosts (launch/two_hosts/two_hosts.sh), used in place of ssh through
# `--mca plm_rsh_agent`. Open MPI calls it as `agent.sh HOST COMMAND...` to start its daemon (orted) on HOST; it
# runs COMMAND, as a remote shell would, inside HOST's network namespace with a UTS namespace of its own whose
# hostname is HOST's name, so each "host" has its own address and its own name.
#   TESSERA_TWO_HOSTS   "ADDRESS=NAMESPACE=HOSTNAME ..." for every host (set by two_hosts_up)
host=$1
shift
for entry in $TESSERA_TWO_HOSTS; do
  address=${entry%%=*}
  rest=${entry#*=}
  if [ "$address" = "$host" ]; then
    # "$*": Open MPI quotes the daemon's arguments for a remote shell (as ssh would pass them to one).
    exec ip netns exec "${rest%%=*}" unshare --uts sh -c "hostname '${rest#*=}' && $*"
  fi
done
echo "two_hosts/agent.sh: unknown host '$host' (known: $TESSERA_TWO_HOSTS)" >&2
exit 255
