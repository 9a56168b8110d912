// f32 and bf16 convolution through oneDNN (the library PyTorch's CPU convolution uses). bf16 only on CPUs with bf16
// units (AMX, AVX512-BF16), where oneDNN runs it several times faster than f32 (the benchmark CNN's second layer:
// 7x forward, 3-5x backward); f32 accumulation, each result rounded once (subnormals flushed to zero by those units,
// gemm_onednn_bf16.cpp says more). Invariants:
//  - one ConvPlan per (geometry, has-bias, dtype): primitive descriptors and primitives are created once and reused
//    (the 1,024 most recently used are kept: plan_cache.h);
//    a bf16 geometry oneDNN has no kernel for is remembered as such (conv_2d.cpp then widens it to f32);
//  - user buffers are plain NCHW / (G)OIHW; when oneDNN prefers a blocked layout for an operand (layout "any"),
//    the plan owns the reorder primitives and the blocked scratch buffers, so a call allocates nothing;
//  - each primitive gets its scratchpad from the plan (scratchpad_mode::user), allocated once: fresh memory is
//    expensive here (page faults cost ~3x a memset), and oneDNN's gemm-based kernels need MBs of scratch per call;
//  - a plan is executed by one thread at a time (its mutex), since it owns those buffers;
//  - oneDNN's OpenMP threads are the same pool as parallel_for's (omp_set_num_threads in parallel.cpp).
#include <dnnl.hpp>

#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <optional>
#include <unordered_map>

#include "kernels/cpu/conv_2d.h"
#include "kernels/cpu/onednn_context.h"
#include "kernels/cpu/plan_cache.h"

namespace tessera::kernels::cpu {

namespace {

using dnnl::memory;
using Tag = memory::format_tag;

dnnl::engine& engine() { return onednn_engine(); }
dnnl::stream& stream() { return onednn_stream(); }

// Whether the primitives may pick blocked layouts (then activations are reordered at the boundary) or must work on
// the plain layouts directly. Measured on the benchmark CNN (batch 128, 2 threads): with one input channel the plain
// gemm-based kernel wins (the blocked one is faster but the 12.8 MB output reorder costs more than it saves); with
// 32 input channels the blocked jit kernels win by ~20% including the reorders. TESSERA_CONV_LAYOUT=plain|any
// overrides, for benchmarking.
bool conv_layout_any(const Conv2dGeometry& g) {
  static const int forced = [] {
    const char* env = std::getenv("TESSERA_CONV_LAYOUT");
    if (env == nullptr) return 0;
    return std::strcmp(env, "any") == 0 ? 1 : std::strcmp(env, "plain") == 0 ? -1 : 0;
  }();
  if (forced != 0) return forced > 0;
  return g.in_channels / g.groups >= 8;
}

// One operand of a primitive: the user's plain layout, the layout the primitive wants, and (when they differ)
// the reorders between them and the buffer in the primitive's layout.
struct Operand {
  memory::desc user;
  memory::desc internal;
  std::optional<dnnl::reorder> to_internal, to_user;
  std::optional<memory> buffer;

  Operand() = default;
  Operand(const memory::desc& user_md, const memory::desc& internal_md) : user(user_md), internal(internal_md) {
    if (user != internal) {
      buffer.emplace(internal, engine());
      to_internal.emplace(dnnl::reorder::primitive_desc(engine(), user, engine(), internal));
      to_user.emplace(dnnl::reorder::primitive_desc(engine(), internal, engine(), user));
    }
  }
  // The memory the primitive should read: the user's data, reordered when needed.
  memory input(const void* data) {
    memory m(user, engine(), const_cast<void*>(data));
    if (!buffer) return m;
    to_internal->execute(stream(), m, *buffer);  // NOLINT: dnnl wants non-const refs
    return *buffer;
  }
  // The memory the primitive should write; finish_output copies it back to the user's buffer when needed.
  memory output(void* data) { return buffer ? *buffer : memory(user, engine(), data); }
  void finish_output(void* data) {
    if (!buffer) return;
    memory m(user, engine(), data);
    to_user->execute(stream(), *buffer, m);
  }
};

struct PlanKey {
  Conv2dGeometry g;
  bool bias;
  memory::data_type type;
  bool operator==(const PlanKey&) const = default;
};
struct PlanKeyHash {
  size_t operator()(const PlanKey& k) const {
    return (Conv2dGeometryHash()(k.g) * 31 + k.bias) * 31 + static_cast<size_t>(k.type);
  }
};

struct ConvPlan {
  std::mutex mutex;
  memory::desc bias_md;
  // forward
  dnnl::convolution_forward::primitive_desc fwd_pd;
  dnnl::convolution_forward fwd;
  memory fwd_scratch, bd_scratch, bw_scratch;
  Operand fwd_src, fwd_wei, fwd_dst;
  // backward data (created on first use: the first layer never needs it)
  std::optional<dnnl::convolution_backward_data> bwd_data;
  Operand bd_diff_src, bd_wei, bd_diff_dst;
  // backward weights
  std::optional<dnnl::convolution_backward_weights> bwd_weights;
  Operand bw_src, bw_diff_wei, bw_diff_dst;
  memory::dims strides, dilates, pad_l, pad_r;
  memory::desc src_md, wei_md, dst_md;
  memory::data_type type = memory::data_type::f32;
  bool free_layout = false;
  memory::desc plain(const memory::dims& dims, Tag tag) const { return memory::desc(dims, type, tag); }
  memory::desc any(const memory::dims& dims) const { return memory::desc(dims, type, Tag::any); }
};

void ensure_backward_data(ConvPlan& plan);
void ensure_backward_weights(ConvPlan& plan);

std::unique_ptr<ConvPlan> make_plan(const Conv2dGeometry& g, bool bias, memory::data_type type) {
  auto plan = std::make_unique<ConvPlan>();
  plan->type = type;
  const memory::dims src_dims{g.batch, g.in_channels, g.in_h, g.in_w};
  const memory::dims dst_dims{g.batch, g.out_channels, g.out_h, g.out_w};
  const bool grouped = g.groups > 1;
  const memory::dims wei_dims =
      grouped ? memory::dims{g.groups, g.out_channels / g.groups, g.in_channels / g.groups, g.kernel_h, g.kernel_w}
              : memory::dims{g.out_channels, g.in_channels, g.kernel_h, g.kernel_w};
  plan->src_md = plan->plain(src_dims, Tag::nchw);
  plan->dst_md = plan->plain(dst_dims, Tag::nchw);
  plan->wei_md = plan->plain(wei_dims, grouped ? Tag::goihw : Tag::oihw);
  plan->bias_md = bias ? plan->plain({g.out_channels}, Tag::x) : memory::desc();
  plan->strides = {g.stride_h, g.stride_w};
  plan->dilates = {g.dilation_h - 1, g.dilation_w - 1};
  plan->pad_l = {g.pad_h, g.pad_w};
  plan->pad_r = {(g.out_h - 1) * g.stride_h + (g.kernel_h - 1) * g.dilation_h + 1 - g.in_h - g.pad_h,
                 (g.out_w - 1) * g.stride_w + (g.kernel_w - 1) * g.dilation_w + 1 - g.in_w - g.pad_w};
  // bf16: oneDNN's bf16 kernels all want blocked layouts (on plain ones it runs slow gemm-based ones).
  const bool free_layout = plan->free_layout = conv_layout_any(g) || type == memory::data_type::bf16;
  const memory::desc src_q = free_layout ? plan->any(src_dims) : plan->src_md;
  const memory::desc dst_q = free_layout ? plan->any(dst_dims) : plan->dst_md;
  const memory::desc wei_q = free_layout ? plan->any(wei_dims) : plan->wei_md;
  dnnl::convolution_forward::desc desc(dnnl::prop_kind::forward_training, dnnl::algorithm::convolution_direct,
                                       src_q, wei_q, plan->bias_md, dst_q, plan->strides, plan->dilates, plan->pad_l,
                                       plan->pad_r);
  plan->fwd_pd = dnnl::convolution_forward::primitive_desc(desc, onednn_user_scratchpad(), engine());
  plan->fwd = dnnl::convolution_forward(plan->fwd_pd);
  plan->fwd_scratch = memory(plan->fwd_pd.scratchpad_desc(), engine());
  plan->fwd_src = Operand(plan->src_md, plan->fwd_pd.src_desc());
  plan->fwd_wei = Operand(plan->wei_md, plan->fwd_pd.weights_desc());
  plan->fwd_dst = Operand(plan->dst_md, plan->fwd_pd.dst_desc());
  if (type == memory::data_type::bf16) {  // all three now, so that a geometry is refused before any runs
    ensure_backward_data(*plan);
    ensure_backward_weights(*plan);
  }
  return plan;
}

void ensure_backward_data(ConvPlan& plan) {
  if (plan.bwd_data) return;
  const bool free_layout = plan.free_layout;
  dnnl::convolution_backward_data::desc desc(
      dnnl::algorithm::convolution_direct, free_layout ? plan.any(plan.src_md.dims()) : plan.src_md,
      free_layout ? plan.any(plan.wei_md.dims()) : plan.wei_md,
      free_layout ? plan.any(plan.dst_md.dims()) : plan.dst_md, plan.strides, plan.dilates, plan.pad_l, plan.pad_r);
  dnnl::convolution_backward_data::primitive_desc pd(desc, onednn_user_scratchpad(), engine(), plan.fwd_pd);
  plan.bwd_data.emplace(pd);
  plan.bd_scratch = memory(pd.scratchpad_desc(), engine());
  plan.bd_diff_src = Operand(plan.src_md, pd.diff_src_desc());
  plan.bd_wei = Operand(plan.wei_md, pd.weights_desc());
  plan.bd_diff_dst = Operand(plan.dst_md, pd.diff_dst_desc());
}

void ensure_backward_weights(ConvPlan& plan) {
  if (plan.bwd_weights) return;
  const bool free_layout = plan.free_layout;
  dnnl::convolution_backward_weights::desc desc(
      dnnl::algorithm::convolution_direct, free_layout ? plan.any(plan.src_md.dims()) : plan.src_md,
      free_layout ? plan.any(plan.wei_md.dims()) : plan.wei_md, plan.bias_md,
      free_layout ? plan.any(plan.dst_md.dims()) : plan.dst_md, plan.strides, plan.dilates, plan.pad_l, plan.pad_r);
  dnnl::convolution_backward_weights::primitive_desc pd(desc, onednn_user_scratchpad(), engine(), plan.fwd_pd);
  plan.bwd_weights.emplace(pd);
  plan.bw_scratch = memory(pd.scratchpad_desc(), engine());
  plan.bw_src = Operand(plan.src_md, pd.src_desc());
  plan.bw_diff_wei = Operand(plan.wei_md, pd.diff_weights_desc());
  plan.bw_diff_dst = Operand(plan.dst_md, pd.diff_dst_desc());
}

// Null for a bf16 geometry oneDNN has no kernel for (f32 ones it always has: onednn_conv2d_supported). A plan that
// failed otherwise (out of memory) is not cached: the error goes to the caller, and the next call tries again.
std::shared_ptr<ConvPlan> plan_for(const Conv2dGeometry& g, bool bias, memory::data_type type) {
  static PlanCache<PlanKey, ConvPlan, PlanKeyHash> cache;
  return cache.get(PlanKey{g, bias, type}, [&]() -> std::unique_ptr<ConvPlan> {
    try {
      return make_plan(g, bias, type);
    } catch (const dnnl::error& error) {
      if (type == memory::data_type::f32 || error.status == dnnl_out_of_memory) throw;
      return nullptr;
    }
  });
}

void run_forward(ConvPlan& plan, const void* x, const void* w, const void* b, void* y) {
  std::lock_guard<std::mutex> lock(plan.mutex);
  std::unordered_map<int, memory> args{{DNNL_ARG_SRC, plan.fwd_src.input(x)},
                                       {DNNL_ARG_WEIGHTS, plan.fwd_wei.input(w)},
                                       {DNNL_ARG_DST, plan.fwd_dst.output(y)},
                                       {DNNL_ARG_SCRATCHPAD, plan.fwd_scratch}};
  if (b != nullptr) args.emplace(DNNL_ARG_BIAS, memory(plan.bias_md, engine(), const_cast<void*>(b)));
  plan.fwd.execute(stream(), args);
  plan.fwd_dst.finish_output(y);
  stream().wait();
}

void run_backward(ConvPlan& plan, const void* x, const void* gy, const void* w, void* gx, void* gw, void* gb) {
  std::lock_guard<std::mutex> lock(plan.mutex);
  std::optional<memory> gy_data;  // gy in the backward-data layout, reused by backward-weights when it matches
  if (gx != nullptr) {
    ensure_backward_data(plan);
    gy_data = plan.bd_diff_dst.input(gy);
    plan.bwd_data->execute(stream(), {{DNNL_ARG_DIFF_DST, *gy_data},
                                      {DNNL_ARG_WEIGHTS, plan.bd_wei.input(w)},
                                      {DNNL_ARG_DIFF_SRC, plan.bd_diff_src.output(gx)},
                                      {DNNL_ARG_SCRATCHPAD, plan.bd_scratch}});
    plan.bd_diff_src.finish_output(gx);
  }
  if (gw != nullptr) {
    ensure_backward_weights(plan);
    const bool reuse = gy_data && plan.bw_diff_dst.internal == plan.bd_diff_dst.internal;
    std::unordered_map<int, memory> args{{DNNL_ARG_SRC, plan.bw_src.input(x)},
                                         {DNNL_ARG_DIFF_DST, reuse ? *gy_data : plan.bw_diff_dst.input(gy)},
                                         {DNNL_ARG_DIFF_WEIGHTS, plan.bw_diff_wei.output(gw)},
                                         {DNNL_ARG_SCRATCHPAD, plan.bw_scratch}};
    if (gb != nullptr) args.emplace(DNNL_ARG_DIFF_BIAS, memory(plan.bias_md, engine(), gb));
    plan.bwd_weights->execute(stream(), args);
    plan.bw_diff_wei.finish_output(gw);
  }
  stream().wait();
}

}  // namespace

bool onednn_conv2d_supported(const Conv2dGeometry& g) {
  // oneDNN wants the right padding that makes its output size formula exact; PyTorch's floor division can make
  // that negative (trailing input rows no window reaches), which oneDNN rejects.
  const int64_t pad_r_h = (g.out_h - 1) * g.stride_h + (g.kernel_h - 1) * g.dilation_h + 1 - g.in_h - g.pad_h;
  const int64_t pad_r_w = (g.out_w - 1) * g.stride_w + (g.kernel_w - 1) * g.dilation_w + 1 - g.in_w - g.pad_w;
  return pad_r_h >= 0 && pad_r_w >= 0 && g.batch > 0 && g.out_h > 0 && g.out_w > 0 && g.in_channels > 0 &&
         g.out_channels > 0;
}

void onednn_conv2d_forward(const Conv2dGeometry& g, const float* x, const float* w, const float* b, float* y) {
  run_forward(*plan_for(g, b != nullptr, memory::data_type::f32), x, w, b, y);
}

void onednn_conv2d_backward(const Conv2dGeometry& g, const float* x, const float* gy, const float* w, float* gx,
                            float* gw, float* gb) {
  run_backward(*plan_for(g, gb != nullptr, memory::data_type::f32), x, gy, w, gx, gw, gb);
}

bool onednn_conv2d_forward_bf16(const Conv2dGeometry& g, const void* x, const void* w, const void* b, void* y) {
  if (!onednn_bf16_units() || !onednn_conv2d_supported(g)) return false;
  const std::shared_ptr<ConvPlan> plan = plan_for(g, b != nullptr, memory::data_type::bf16);
  if (plan == nullptr) return false;
  run_forward(*plan, x, w, b, y);
  return true;
}

bool onednn_conv2d_backward_bf16(const Conv2dGeometry& g, const void* x, const void* gy, const void* w, void* gx,
                                 void* gw, void* gb) {
  if (!onednn_bf16_units() || !onednn_conv2d_supported(g)) return false;
  const std::shared_ptr<ConvPlan> plan = plan_for(g, gb != nullptr, memory::data_type::bf16);
  if (plan == nullptr) return false;
  run_backward(*plan, x, gy, w, gx, gw, gb);
  return true;
}

}  // namespace tessera::kernels::cpu
