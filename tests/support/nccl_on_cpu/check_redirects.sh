#!/usr/bin/env bash
# checks.nccl_on_cpu_redirects: distributed/nccl's sources built with redirect.h (in the archive $1) must call
# neither the real CUDA runtime nor the real NCCL (each call goes through the CPU build's table or fake_nccl.h), and
# must define nothing under the real nccl backend's names or in kernels::cuda, where the linker could pick their
# copy for the real one's (or the other way round). A call added to distributed/nccl without a line in redirect.h
# fails here instead of reaching the real libraries with emulated handles.
set -euo pipefail
archive=$1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
ar x "$archive"
status=0
for source in nccl_communicator nccl_types nccl_world; do
  object=$(ls ./*"$source".cpp.o 2>/dev/null || true)
  [ -n "$object" ] || { echo "FAIL: no object of $source.cpp in $archive"; exit 1; }
  calls=$(nm -u -C "$object" | grep -E ' U (cuda[A-Z]|nccl[A-Z]|__cuda)|kernels::cuda::' |
          grep -v 'kernels::cuda::current_stream_on_cpu(int)' || true)
  if [ -n "$calls" ]; then
    echo "FAIL: $source.cpp calls the real library (add it to redirect.h):"; echo "$calls"; status=1
  fi
  defined=$(nm --defined-only --extern-only -C "$object" |
            grep -E 'tessera::dist::nccl::|tessera::kernels::cuda::|tessera::dist::(make_nccl_communicator|nccl_compiled|nccl_version)\(' || true)
  if [ -n "$defined" ]; then
    echo "FAIL: $source.cpp defines names of the real backend (rename them in redirect.h):"; echo "$defined"; status=1
  fi
done
# Not vacuous: the renamed backend is there.
own=$(nm --defined-only --extern-only -C ./*nccl_communicator.cpp.o | grep -c 'tessera::dist::nccl_on_cpu::NcclCommunicator::' || true)
[ "$own" -gt 0 ] || { echo "FAIL: nccl_communicator.cpp.o defines no tessera::dist::nccl_on_cpu::NcclCommunicator"; exit 1; }
[ "$status" -eq 0 ] && echo "OK: the redirected nccl backend calls and defines only its own names"
exit "$status"
