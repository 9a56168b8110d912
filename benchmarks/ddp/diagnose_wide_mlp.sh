#!/usr/bin/env bash
# Where the wide MLP's training step goes on this machine (bench ddp's "wide-mlp": batch 8, 6 x Linear(1024, 1024)
# + ReLU, then Linear(1024, 10); one rank, one thread), Tessera beside PyTorch. Prints, to stdout:
#   1. the CPU (lscpu model, family/model, caches, the SIMD flags BLAS kernels are chosen by), THP, load;
#   2. the BLAS libraries the binary loads and the core type OpenBLAS picks with OPENBLAS_CORETYPE unset,
#      Haswell and SkylakeX;
#   3. single-core memory bandwidth (the step streams ~25 MB of weights, gradients and momentum several times);
#   4. the step's GEMMs in model order over 6 distinct weights (forward x@W^T, backward g@W and g^T@x), OpenBLAS
#      (per core type) against oneDNN's dnnl_sgemm, from a small probe compiled here against the same libraries;
#   5. Tessera's step by phase (zero_grad / forward / backward / optimizer), SGD-momentum as in bench ddp and AdamW,
#      per core type, from a small driver compiled against the build tree the binary came from (needs build.ninja);
#   6. `tessera bench ddp --models wide-mlp` on one rank (compute and one-rank ms) per core type;
#   7. PyTorch's step by phase for the same model (its BLAS from torch.__config__).
# Every command runs under `timeout`; a step that fails or would overrun the budget is reported and skipped.
#
# usage: diagnose_wide_mlp.sh TESSERA_BINARY [TORCH_PYTHON]
#   TESSERA_BINARY  a built build*/bin/tessera (its build directory is two levels up)
#   TORCH_PYTHON    a Python with torch (default: python3)
# Environment: DIAG_BUDGET_S (default 80: steps are skipped once it is spent), TESSERA_MPIRUN (else mpirun on PATH,
# else the benchmark runs as an MPI singleton), CXX (default g++).
set -uo pipefail
[ $# -ge 1 ] || { echo "usage: $0 TESSERA_BINARY [TORCH_PYTHON]" >&2; exit 2; }
tessera=$(readlink -f "$1")
torch_python=${2:-python3}
budget=${DIAG_BUDGET_S:-80}
cxx=${CXX:-g++}
build=$(dirname "$(dirname "$tessera")")
start=$SECONDS
work=$(mktemp -d /tmp/diagnose_wide_mlp.XXXXXX)
trap 'rm -rf "$work"' EXIT
cores=$(nproc)  # before OMP_NUM_THREADS=1, which nproc obeys
export TESSERA_NUM_THREADS=1 OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1
unset OPENBLAS_VERBOSE
# one rank: no shared-memory peer; where CMA is refused (containers) Open MPI would otherwise warn
export OMPI_MCA_btl_vader_single_copy_mechanism=${OMPI_MCA_btl_vader_single_copy_mechanism:-none}
coretypes=("" Haswell SkylakeX)  # "" = OpenBLAS's own choice for this CPU

section() { echo; echo "=== [$((SECONDS - start)) s] $*"; }
left() { echo $((budget - (SECONDS - start))); }
# bounded SECONDS COMMAND...: runs it under timeout, or says why not; never more than the budget left.
bounded() {
  local limit=$1; shift
  local remaining; remaining=$(left)
  if [ "$remaining" -lt 3 ]; then echo "(skipped: diagnosis budget of ${budget} s spent)"; return 124; fi
  [ "$limit" -gt "$remaining" ] && limit=$remaining
  timeout -k 2 "$limit" "$@"
  local code=$?
  [ $code -eq 124 ] && echo "(timed out after ${limit} s: $1 ...)"
  return $code
}
label() { echo "OPENBLAS_CORETYPE=${1:-unset}"; }
# core_env CORETYPE: env(1) arguments that set it, or truly unset it for "" (an empty value makes OpenBLAS complain)
core_env() { if [ -n "$1" ]; then echo "OPENBLAS_CORETYPE=$1"; else echo "-u OPENBLAS_CORETYPE"; fi; }

[ -x "$tessera" ] || { echo "diagnose_wide_mlp: $tessera is not an executable"; exit 2; }

section "machine"
bounded 5 lscpu | grep -E "^(Model name|Vendor ID|CPU family|Model|Stepping|CPU\(s\)|Thread\(s\) per core|Core\(s\) per socket|Socket\(s\)|NUMA node\(s\)|CPU max MHz|CPU MHz|L1d cache|L2 cache|L3 cache|Hypervisor vendor):" |
  sed 's/  */ /g'
flags=$(grep -m1 '^flags' /proc/cpuinfo 2>/dev/null | cut -d: -f2)
echo "SIMD flags: $(for f in avx2 fma avx512f avx512dq avx512bw avx512vl avx512_vnni avx512_bf16 avx512_fp16 amx_tile amx_bf16 hypervisor; do
  [[ " $flags " == *" $f "* ]] && printf '%s ' "$f"; done)"
echo "nproc $cores; kernel $(uname -r); THP $(cat /sys/kernel/mm/transparent_hugepage/enabled 2>/dev/null)," \
  "defrag $(cat /sys/kernel/mm/transparent_hugepage/defrag 2>/dev/null); governor" \
  "$(cat /sys/devices/system/cpu/cpu0/cpufreq/scaling_governor 2>/dev/null || echo n/a); load $(cut -d' ' -f1-3 /proc/loadavg)"

section "BLAS libraries and OpenBLAS core type"
bounded 10 ldd "$tessera" | grep -E "blas|dnnl|gomp|gfortran|mkl" | sed 's/^[[:space:]]*//'
for ct in "${coretypes[@]}"; do
  core=$(bounded 10 env $(core_env "$ct") OPENBLAS_VERBOSE=2 "$tessera" --help 2>&1 | grep -m1 -i "core")
  echo "$(label "$ct"): ${core:-(OpenBLAS printed no core)}"
done

section "single-core memory bandwidth"
cat >"$work/bw.c" <<'EOF'
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + 1e-9 * t.tv_nsec; }
int main(int argc, char** argv) {
  long mb = argc > 1 ? atol(argv[1]) : 128, n = mb * 1024 * 1024 / 4;
  float *a = aligned_alloc(64, n * 4), *b = aligned_alloc(64, n * 4), *c = aligned_alloc(64, n * 4);
  for (long i = 0; i < n; i++) { a[i] = 1; b[i] = 2; c[i] = 0; }
  double br = 1e9, bw = 1e9, bt = 1e9; volatile float sink = 0;
  for (int r = 0; r < 4; r++) {
    double t0 = now(); float s = 0; for (long i = 0; i < n; i++) s += a[i]; sink += s;
    double t1 = now(); if (t1 - t0 < br) br = t1 - t0;
    t0 = now(); for (long i = 0; i < n; i++) c[i] = 0.5f; t1 = now(); if (t1 - t0 < bw) bw = t1 - t0;
    t0 = now(); for (long i = 0; i < n; i++) c[i] = a[i] + 0.9f * b[i]; t1 = now(); if (t1 - t0 < bt) bt = t1 - t0;
  }
  double B = n * 4.0 / 1e9;
  printf("one core, %ld MB arrays, GB/s (best of 4): read %.1f | write %.1f | triad (2 reads + 1 write) %.1f\n", mb,
         B / br, B / bw, 3 * B / bt);
  return 0;
}
EOF
if bounded 20 "${CC:-gcc}" -O3 -ffast-math -march=x86-64-v3 -o "$work/bw" "$work/bw.c" 2>"$work/bw.err"; then
  bounded 15 "$work/bw" 128
  bounded 10 "$work/bw" 8 | sed 's/^/(cache-sized) /'
else
  echo "(could not compile the bandwidth probe: $(head -c 300 "$work/bw.err"))"
fi

section "the step's GEMMs over 6 distinct 1024x1024 weights: OpenBLAS (by core type) vs oneDNN dnnl_sgemm"
openblas=$(ldd "$tessera" | awk '/libopenblas/ {print $3; exit}')
dnnl=$(ldd "$tessera" | awk '/libdnnl/ {print $3; exit}')
cat >"$work/gemm_probe.cpp" <<'EOF'
// No headers needed: the CBLAS and oneDNN entry points, declared as the libraries export them (LP64 OpenBLAS).
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>
extern "C" void cblas_sgemm(int, int, int, int, int, int, float, const float*, int, const float*, int, float, float*,
                            int);
extern "C" char* openblas_get_corename(void);
extern "C" int dnnl_sgemm(char, char, int64_t, int64_t, int64_t, float, const float*, int64_t, const float*, int64_t,
                          float, float*, int64_t);
enum { RowMajor = 101, NoTrans = 111, Trans = 112 };
using clk = std::chrono::steady_clock;
int main() {
  const int B = 8, N = 1024, L = 6, reps = 15;
  auto alloc = [](size_t n) { auto* p = static_cast<float*>(aligned_alloc(64, n * 4));
                              for (size_t i = 0; i < n; ++i) p[i] = (rand() % 1000) / 1000.f - .5f; return p; };
  std::vector<float*> W(L), dW(L), M(L), X(L + 1), G(L + 1);
  for (int l = 0; l < L; ++l) { W[l] = alloc((size_t)N * N); dW[l] = alloc((size_t)N * N); M[l] = alloc((size_t)N * N); }
  for (int l = 0; l <= L; ++l) { X[l] = alloc((size_t)B * N); G[l] = alloc((size_t)B * N); }
  for (int dnnl = 0; dnnl < 2; ++dnnl) {
    std::vector<double> t[3];
    for (int r = 0; r < reps + 2; ++r) {
      double ms[3];
      for (int phase = 0; phase < 3; ++phase) {
        const auto t0 = clk::now();
        for (int l = 0; l < L; ++l) {
          if (phase == 0) {
            if (dnnl) dnnl_sgemm('N', 'T', B, N, N, 1, X[l], N, W[l], N, 0, X[l + 1], N);
            else cblas_sgemm(RowMajor, NoTrans, Trans, B, N, N, 1, X[l], N, W[l], N, 0, X[l + 1], N);
          } else if (phase == 1) {
            if (dnnl) dnnl_sgemm('N', 'N', B, N, N, 1, G[l + 1], N, W[l], N, 0, G[l], N);
            else cblas_sgemm(RowMajor, NoTrans, NoTrans, B, N, N, 1, G[l + 1], N, W[l], N, 0, G[l], N);
          } else {
            if (dnnl) dnnl_sgemm('T', 'N', N, N, B, 1, G[l + 1], N, X[l], N, 0, dW[l], N);
            else cblas_sgemm(RowMajor, Trans, NoTrans, N, N, B, 1, G[l + 1], N, X[l], N, 0, dW[l], N);
          }
        }
        ms[phase] = std::chrono::duration<double>(clk::now() - t0).count() * 1e3;
      }
      for (int l = 0; l < L; ++l)  // an optimizer-like pass, so the weights leave the cache as in a real step
        for (size_t i = 0; i < (size_t)N * N; ++i) { M[l][i] = 0.9f * M[l][i] + 1e-9f * dW[l][i]; W[l][i] -= 1e-9f * M[l][i]; }
      if (r >= 2) for (int p = 0; p < 3; ++p) t[p].push_back(ms[p]);
    }
    double med[3];
    for (int p = 0; p < 3; ++p) { std::sort(t[p].begin(), t[p].end()); med[p] = t[p][t[p].size() / 2]; }
    std::printf("%-22s ms per step (6 layers, median of %d): forward x@W^T %.2f | backward g@W %.2f | backward g^T@x "
                "%.2f | total %.2f\n", dnnl ? "oneDNN dnnl_sgemm" : (std::string("OpenBLAS ") + openblas_get_corename()).c_str(),
                reps, med[0], med[1], med[2], med[0] + med[1] + med[2]);
  }
}
EOF
sed -i 's/#include <vector>/#include <string>\n#include <vector>/' "$work/gemm_probe.cpp"
if [ -n "$openblas" ] && [ -n "$dnnl" ] &&
  bounded 40 "$cxx" -O2 -std=c++17 -o "$work/gemm_probe" "$work/gemm_probe.cpp" "$openblas" "$dnnl" \
    -Wl,--allow-shlib-undefined 2>"$work/gemm_probe.err"; then
  for ct in "${coretypes[@]}"; do
    echo "$(label "$ct"):"
    bounded 20 env $(core_env "$ct") "$work/gemm_probe" 2>&1 | sed 's/^/  /'
  done
else
  echo "(GEMM probe not built: openblas '${openblas}', dnnl '${dnnl}'; $(head -c 400 "$work/gemm_probe.err" 2>/dev/null))"
fi

section "Tessera's step by phase (a driver compiled against $build)"
cat >"$work/phases.cpp" <<'EOF'
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>
#include "core/core.h"
#include "core/nn/nn.h"
#include "core/optim/optim.h"
using namespace tessera;
using clk = std::chrono::steady_clock;
static double ms(clk::time_point a, clk::time_point b) { return std::chrono::duration<double>(b - a).count() * 1e3; }
static double med(std::vector<double> v) { std::sort(v.begin(), v.end()); return v[v.size() / 2]; }
int main(int argc, char** argv) {
  const int steps = argc > 1 ? std::atoi(argv[1]) : 20;
  const std::string opt = argc > 2 ? argv[2] : "sgd";
  const int64_t batch = 8, width = 1024;
  const int layers = 6;
  manual_seed(0);
  auto model = std::make_shared<nn::Sequential>();  // as bench ddp's make_wide_mlp
  for (int i = 0; i < layers; ++i) {
    model->push_back(std::make_shared<nn::Linear>(width, width));
    model->push_back(std::make_shared<nn::ReLU>());
  }
  model->push_back(std::make_shared<nn::Linear>(width, 10));
  std::unique_ptr<optim::Optimizer> optimizer;
  if (opt == "adamw") optimizer = std::make_unique<optim::AdamW>(model->parameters(), optim::AdamWOptions{.lr = 1e-3});
  else optimizer = std::make_unique<optim::SGD>(model->parameters(), optim::SGDOptions{.lr = 0.01, .momentum = 0.9});
  Generator gen(0);
  Tensor x = randn({batch, width}, gen), y = randint(0, 10, {batch}, gen);
  std::vector<double> z, f, b, s, t;
  for (int i = 0; i < steps + 3; ++i) {
    const auto t0 = clk::now();
    optimizer->zero_grad(true);
    const auto t1 = clk::now();
    Tensor loss = cross_entropy((*model)(x), y);
    const auto t2 = clk::now();
    loss.backward();
    const auto t3 = clk::now();
    optimizer->step();
    const auto t4 = clk::now();
    if (i < 3) continue;
    z.push_back(ms(t0, t1)); f.push_back(ms(t1, t2)); b.push_back(ms(t2, t3)); s.push_back(ms(t3, t4));
    t.push_back(ms(t0, t4));
  }
  std::printf("%-5s ms, median of %d steps: zero_grad %.2f | forward %.2f | backward %.2f | optimizer %.2f | step %.2f "
              "(min %.2f)\n", opt.c_str(), steps, med(z), med(f), med(b), med(s), med(t),
              *std::min_element(t.begin(), t.end()));
}
EOF
# The compile and link lines of the build that made the binary, from its build.ninja (so defines such as
# TESSERA_WITH_CUDA and the exact libraries match).
ninja_vars() {  # ninja_vars BUILD_LINE_PREFIX: the indented variables of the first build statement starting so
  awk -v p="$1" 'index($0, p) == 1 {on = 1; next} on && /^  [A-Z_]+ = / {print; next} on {exit}' "$build/build.ninja"
}
var() { sed -n "s/^  $1 = //p" <<<"$2" | sed 's/\$\$/$/g'; }
if [ -f "$build/build.ninja" ]; then
  compile=$(ninja_vars "build core/CMakeFiles/tessera_core.dir/tensor.cpp.o:")
  link=$(ninja_vars "build bin/tessera:")
  cmd="cd '$build' && '$cxx' $(var DEFINES "$compile") $(var INCLUDES "$compile") $(var FLAGS "$compile") \
    '$work/phases.cpp' -o '$work/phases' $(var LINK_FLAGS "$link") $(var LINK_LIBRARIES "$link")"
  if bounded 60 bash -c "$cmd" >"$work/phases.err" 2>&1; then
    for ct in "${coretypes[@]}"; do
      echo "$(label "$ct"):"
      bounded 20 env $(core_env "$ct") "$work/phases" 20 sgd 2>&1 | sed 's/^/  /'
    done
    echo "OPENBLAS_CORETYPE=unset, AdamW:"
    bounded 20 env -u OPENBLAS_CORETYPE "$work/phases" 20 adamw 2>&1 | sed 's/^/  /'
  else
    echo "(phase driver not built; first lines of the error:)"; head -n 15 "$work/phases.err"
  fi
else
  echo "(no $build/build.ninja: no phase breakdown)"
fi

section "PyTorch's step by phase ($torch_python)"
cat >"$work/torch_phases.py" <<'EOF'
import statistics, sys, time
import torch, torch.nn as nn
torch.set_num_threads(1)
config = torch.__config__.show()
blas = [w for line in config.splitlines() for w in line.replace(",", " ").split() if w.startswith(("BLAS_INFO", "LAPACK_INFO"))]
print(f"torch {torch.__version__}; {' '.join(blas)}; CPU capability {getattr(getattr(torch.backends, 'cpu', None), 'get_cpu_capability', lambda: 'n/a')()}; "
      f"MKL {torch.backends.mkl.is_available()}; mkldnn {torch.backends.mkldnn.is_available()}; threads {torch.get_num_threads()}")
for opt in ["sgd", "adamw"]:
    torch.manual_seed(0)
    mods = []
    for _ in range(6):
        mods += [nn.Linear(1024, 1024), nn.ReLU()]
    model = nn.Sequential(*mods, nn.Linear(1024, 10))  # torch_ddp.py's wide_mlp
    o = (torch.optim.AdamW(model.parameters(), lr=1e-3) if opt == "adamw"
         else torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9))
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(8, 1024, generator=g), torch.randint(0, 10, (8,), generator=g)
    ph = {k: [] for k in ["zero_grad", "forward", "backward", "optimizer", "step"]}
    for i in range(23):
        t0 = time.perf_counter(); o.zero_grad(set_to_none=True)
        t1 = time.perf_counter(); loss = nn.functional.cross_entropy(model(x), y)
        t2 = time.perf_counter(); loss.backward()
        t3 = time.perf_counter(); o.step()
        t4 = time.perf_counter()
        if i >= 3:
            for k, a, b in [("zero_grad", t0, t1), ("forward", t1, t2), ("backward", t2, t3), ("optimizer", t3, t4),
                            ("step", t0, t4)]:
                ph[k].append(1e3 * (b - a))
    print(f"{opt:5s} ms, median of 20 steps: " + " | ".join(f"{k} {statistics.median(v):.2f}" for k, v in ph.items())
          + f" (min {min(ph['step']):.2f})")
EOF
bounded 45 "$torch_python" "$work/torch_phases.py" 2>&1 | sed 's/^/  /'

section "tessera bench ddp --models wide-mlp, one rank"
mpirun=${TESSERA_MPIRUN:-$(command -v mpirun || true)}
launch=()
if [ -n "$mpirun" ]; then
  launch=("$mpirun" -n 1 --oversubscribe --bind-to none)
  [ "$(id -u)" -eq 0 ] && launch+=(--allow-run-as-root)
fi
for ct in "${coretypes[@]}"; do
  json="$work/bench-${ct:-unset}.json"
  bounded 25 env $(core_env "$ct") "${launch[@]}" "$tessera" bench ddp --models wide-mlp --steps 8 --warmup 2 \
    --rounds 2 --json "$json" >"$work/bench.log" 2>&1
  if [ -f "$json" ]; then
    # nlohmann::json orders keys: "median" comes before "rounds", and compute_ms before one_rank_ms in it
    echo "$(label "$ct"): $(grep -o '"\(compute\|one_rank\)_ms": [0-9.]*' "$json" | head -n 2 |
      awk -F'[":]+' '{printf "%s %.2f ms  ", $2, $3}')"
  else
    echo "$(label "$ct"): no result; last lines:"; tail -n 5 "$work/bench.log"
  fi
done
section "done ($((SECONDS - start)) s)"
