// bf16 GEMM on CPUs with bf16 arithmetic (AMX or AVX512-BF16: Sapphire Rapids and later Xeons, Zen 4) through
// oneDNN's matmul primitive, as PyTorch's CPU autocast does: bf16 operands, f32 accumulation, the result (plus
// beta * C, read into f32) rounded once into bf16 C. The numbers are those of widening the operands to f32, up to
// summation order and subnormals (below ~1.2e-38: the bf16 units read them as zero and flush them to zero, as in
// PyTorch; training never meets them). On this project's dev VM (Xeon with AMX, one thread) it runs the MLP's GEMMs
// at 400-680 GFLOP/s against 70-115 for f32 sgemm. Without such units (onednn_context.h) this declines and gemm.cpp
// widens. Invariants:
//  - one plan per (shape, transposes, leading dimensions, beta): primitive and scratchpad made once and reused (the
//    1,024 most recently used are kept: plan_cache.h); a shape oneDNN rejects is remembered as rejected;
//  - a plan runs on one thread at a time (its mutex): it owns its scratchpad;
//  - oneDNN's OpenMP threads are parallel_for's pool (num_threads() applies TESSERA_NUM_THREADS to it).
#include <functional>
#include <memory>
#include <mutex>

#include "kernels/cpu/gemm.h"
#include "kernels/cpu/onednn_context.h"
#include "kernels/cpu/parallel.h"
#include "kernels/cpu/plan_cache.h"

namespace tessera::kernels::cpu {

namespace {

using dnnl::memory;

struct PlanKey {
  int64_t m, n, k, lda, ldb, ldc;
  bool a_transposed, b_transposed;
  float beta;
  bool operator==(const PlanKey&) const = default;
};
struct PlanKeyHash {
  size_t operator()(const PlanKey& key) const {
    size_t h = 0;
    for (int64_t v : {key.m, key.n, key.k, key.lda, key.ldb, key.ldc})
      h = h * 1000003 + static_cast<size_t>(v);
    return (h * 4 + key.a_transposed * 2 + key.b_transposed) * 31 + std::hash<float>()(key.beta);
  }
};

struct MatmulPlan {
  std::mutex mutex;
  memory::desc a, b, c;
  dnnl::matmul matmul;
  memory scratch;
};

// op(X) of a stored row-major matrix (ld apart) as a rows x cols oneDNN descriptor: a transposed operand is the
// stored one read with its strides swapped, no copy.
memory::desc operand(int64_t rows, int64_t cols, const MatrixRef& x) {
  return memory::desc({rows, cols}, memory::data_type::bf16,
                      x.transposed ? memory::dims{1, x.ld} : memory::dims{x.ld, 1});
}

std::unique_ptr<MatmulPlan> make_plan(const PlanKey& key, const MatrixRef& a, const MatrixRef& b) {
  auto plan = std::make_unique<MatmulPlan>();
  plan->a = operand(key.m, key.k, a);
  plan->b = operand(key.k, key.n, b);
  plan->c = memory::desc({key.m, key.n}, memory::data_type::bf16, memory::dims{key.ldc, 1});
  dnnl::primitive_attr attr = onednn_user_scratchpad();
  if (key.beta != 0.0f) {
    dnnl::post_ops sum;
    sum.append_sum(key.beta);  // C = A @ B + beta * C, summed in f32 before the one rounding
    attr.set_post_ops(sum);
  }
  try {
    dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(plan->a, plan->b, plan->c), attr, onednn_engine());
    plan->matmul = dnnl::matmul(pd);
    plan->scratch = memory(pd.scratchpad_desc(), onednn_engine());
  } catch (const dnnl::error& error) {
    if (error.status == dnnl_out_of_memory) throw;  // not cached: the next call tries again
    return nullptr;  // a layout or shape it has no kernel for: widened instead
  }
  return plan;
}

std::shared_ptr<MatmulPlan> plan_for(const PlanKey& key, const MatrixRef& a, const MatrixRef& b) {
  static PlanCache<PlanKey, MatmulPlan, PlanKeyHash> cache;
  return cache.get(key, [&] { return make_plan(key, a, b); });
}

}  // namespace

bool onednn_gemm_bf16(int64_t m, int64_t n, int64_t k, float alpha, MatrixRef a, MatrixRef b, float beta, void* c,
                      int64_t ldc) {
  if (!onednn_bf16_units() || alpha != 1.0f || m <= 0 || n <= 0 || k <= 0) return false;
  const PlanKey key{m, n, k, a.ld, b.ld, ldc, a.transposed, b.transposed, beta};
  const std::shared_ptr<MatmulPlan> plan = plan_for(key, a, b);
  if (plan == nullptr) return false;
  num_threads();  // applies TESSERA_NUM_THREADS to the OpenMP pool oneDNN runs on
  std::lock_guard<std::mutex> lock(plan->mutex);
  const dnnl::engine& engine = onednn_engine();
  plan->matmul.execute(onednn_stream(), {{DNNL_ARG_SRC, memory(plan->a, engine, const_cast<void*>(a.data))},
                                         {DNNL_ARG_WEIGHTS, memory(plan->b, engine, const_cast<void*>(b.data))},
                                         {DNNL_ARG_DST, memory(plan->c, engine, c)},
                                         {DNNL_ARG_SCRATCHPAD, plan->scratch}});
  onednn_stream().wait();
  return true;
}

}  // namespace tessera::kernels::cpu
