#!/usr/bin/env bash
# Scaling benchmarks and the projection to 8-1,024 GPUs, in one command (from the repository root, after a build):
#   benchmarks/scaling/run.sh [TESSERA]        (default build/bin/tessera)
# 1. `tessera bench ddp --timeline` (CNN and wide MLP, MPI backend, 1 thread per rank) for weak scaling (fixed batch
#    per rank) and strong scaling (fixed global batch) on 1, 2 and 4 ranks, and on 2 hosts x 2 ranks (two network
#    namespaces, launch/two_hosts/; left out, saying so, where namespaces cannot be made);
# 2. `tessera train` of the Fashion-MNIST CNN on real data (40 steps, 64 per rank) on the same layouts: throughput
#    and data wait through the loader;
# 3. `tessera bench allreduce` on 2 and 4 ranks of one host and on 1+1 and 2+2 ranks of two hosts (alpha and beta);
# 4. scaling_report.py: results/scaling-cpu.{json,md,png}; projection.py: results/projection.{json,md,png}.
# Raw runs go to $SCALING_WORK (default build/scaling). 4 ranks on a 2-core machine are oversubscribed: the reports
# say so. Takes ~5 minutes on 2 cores.
#   SCALING_RESULTS  where the reports go (default benchmarks/results)
#   SCALING_STEPS, SCALING_ROUNDS  bench ddp's --steps and --rounds (default 5 and 3)
#   TESSERA_PYTHON   Python with Debian's matplotlib (default /usr/bin/python3)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
tessera=$(realpath "${1:-build/bin/tessera}")
work=${SCALING_WORK:-build/scaling}
results=${SCALING_RESULTS:-benchmarks/results}
python=${TESSERA_PYTHON:-/usr/bin/python3}
mkdir -p "$work" "$results"
work=$(realpath "$work")

# One thread per rank; MPI waits yield their core (ranks outnumber cores at 4); single-copy shared memory (CMA)
# where the kernel allows it. Reported in every JSON.
export TESSERA_NUM_THREADS=1 OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 TESSERA_COLLECTIVE_TIMEOUT=120
export OMPI_MCA_mpi_yield_when_idle=1 OMPI_MCA_btl_vader_single_copy_mechanism=${OMPI_MCA_btl_vader_single_copy_mechanism:-cma}
export HDF5_USE_FILE_LOCKING=FALSE
mpi_flags=(--allow-run-as-root --oversubscribe --bind-to none)
for var in TESSERA_NUM_THREADS TESSERA_COLLECTIVE_TIMEOUT OMPI_MCA_mpi_yield_when_idle \
           OMPI_MCA_btl_vader_single_copy_mechanism HDF5_USE_FILE_LOCKING; do mpi_flags+=(-x "$var"); done

source "$(dirname "$here")/../launch/two_hosts/two_hosts.sh"
if why=$(two_hosts_probe); then
  two_hosts_up
  trap two_hosts_down EXIT
  layouts=(1 2 4 2x2)
else
  echo "two hosts left out: $why"
  layouts=(1 2 4)
fi

# launch LAYOUT COMMAND...: the command on 1, 2 or 4 ranks of this host, or 2 ranks on each of two hosts (2x2) or
# one on each (1+1).
launch() {
  local layout=$1
  shift
  case $layout in
    2x2) timeout 600 "$TWO_HOSTS_MPIRUN" 2 2 "${mpi_flags[@]}" -- "$@" ;;
    1+1) timeout 600 "$TWO_HOSTS_MPIRUN" 1 1 "${mpi_flags[@]}" -- "$@" ;;
    *) timeout 600 mpirun -n "$layout" "${mpi_flags[@]}" "$@" ;;
  esac
}
ranks_of() { case $1 in 2x2) echo 4 ;; 1+1) echo 2 ;; *) echo "$1" ;; esac; }

# Weak: 64 CNN / 8 MLP samples per rank. Strong: 128 CNN / 32 MLP samples per step over all ranks.
for layout in "${layouts[@]}"; do
  ranks=$(ranks_of "$layout")
  for scaling in weak strong; do
    if [ "$scaling" = weak ]; then cnn=64 mlp=8; else cnn=$((128 / ranks)) mlp=$((32 / ranks)); fi
    name=ddp-$scaling-$layout
    echo "=== $name: $ranks ranks, batch per rank: CNN $cnn, MLP $mlp"
    launch "$layout" "$tessera" bench ddp --models cnn,wide-mlp --cnn-batch "$cnn" --mlp-batch "$mlp" \
      --steps "${SCALING_STEPS:-5}" --rounds "${SCALING_ROUNDS:-3}" --warmup 2 \
      --json "$work/$name.json" --timeline "$work/$name.trace.json"
  done
done

# Real data through the loader: `tessera train` of the Fashion-MNIST CNN, 64 per rank, 40 steps (weak scaling), for
# throughput and the data-wait share the progress line reports (metrics.csv: samples_per_sec, data_wait_seconds).
if [ -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then
  [ -d "$work/fmnist" ] || "$tessera" data fashion-mnist --out "$work/fmnist" --shards 4 >/dev/null
  for layout in "${layouts[@]}"; do
    echo "=== train-$layout"
    rm -rf "$work/train-$layout"
    launch "$layout" "$tessera" train "$(dirname "$here")/../configs/fashion_mnist_cnn.json" --progress lines \
      --set "data.train=[\"$work/fmnist/train-*.h5\"]" --set 'data.test=[]' --set max_steps=40 \
      --set schedule.warmup_steps=5 --set log_dir="$work/train-$layout" --set checkpoint.dir= | grep "^Epoch"
  done
else
  echo "train runs left out: no dataset-fashion-mnist"
fi

allreduce_layouts=(2 4)
[ "${layouts[-1]}" = 2x2 ] && allreduce_layouts+=(1+1 2x2)
for layout in "${allreduce_layouts[@]}"; do
  echo "=== allreduce-$layout"
  launch "$layout" "$tessera" bench allreduce --min-bytes 1024 --max-bytes $((32 << 20)) --rounds 3 \
    --json "$work/allreduce-$layout.json"
done

"$python" "$here/scaling_report.py" "$work" "$results"
"$python" "$here/projection.py" "$work" "$results"
