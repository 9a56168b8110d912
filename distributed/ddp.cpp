// DistributedDataParallel (see ddp.h).
#include "distributed/ddp.h"

#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "core/autograd/grad_mode.h"
#include "core/check.h"
#include "core/ops/view.h"
#include "distributed/model_fingerprint.h"

namespace tessera::dist {

namespace {

size_t mib_to_bytes(double mib, const char* option) {
  TESSERA_CHECK(mib > 0, "DistributedDataParallel: ", option, " must be positive, got ", mib);
  return static_cast<size_t>(mib * static_cast<double>(kMiB));
}

std::string describe_options(const DdpOptions& o) {
  std::ostringstream out;
  out << "bucket_cap_mb=" << o.bucket_cap_mb << ", first_bucket_cap_mb=" << o.first_bucket_cap_mb
      << ", find_unused_parameters=" << o.find_unused_parameters
      << ", gradient_as_bucket_view=" << o.gradient_as_bucket_view << ", broadcast_buffers=" << o.broadcast_buffers
      << ", overlap_with_backward=" << o.overlap_with_backward;
  return out.str();
}

// The dtype a buffer or parameter travels as: collectives take f32, f64, bf16, f16, i32 and i64; u8 and bool
// (masks, flags: PyTorch's DDP broadcasts any dtype) go as i32 and are converted back, exactly.
DType wire_dtype(DType dtype) { return dtype == DType::u8 || dtype == DType::boolean ? DType::i32 : dtype; }

}  // namespace

DistributedDataParallel::DistributedDataParallel(std::shared_ptr<nn::Module> module,
                                                 std::shared_ptr<Communicator> comm, DdpOptions options)
    : module_(std::move(module)), comm_(std::move(comm)), options_(options) {
  TESSERA_CHECK(module_ != nullptr, "DistributedDataParallel: no module");
  TESSERA_CHECK(comm_ != nullptr, "DistributedDataParallel: no communicator");
  register_module("module", module_);
  ReducerOptions reducer_options{
      .buckets = {.first_bucket_cap_bytes = mib_to_bytes(options_.first_bucket_cap_mb, "first_bucket_cap_mb"),
                  .bucket_cap_bytes = mib_to_bytes(options_.bucket_cap_mb, "bucket_cap_mb")},
      .find_unused_parameters = options_.find_unused_parameters,
      .gradient_as_bucket_view = options_.gradient_as_bucket_view,
      .overlap_with_backward = options_.overlap_with_backward};

  // Options differing across ranks would plan different buckets: they are part of the fingerprint.
  std::vector<std::string> fingerprint = describe_model(*module_);
  fingerprint.push_back("DdpOptions{" + describe_options(options_) + "}");
  check_same_on_all_ranks(*comm_, fingerprint, "DistributedDataParallel: the model");

  broadcast_from_rank0(module_->named_parameters(), "parameter");
  broadcast_from_rank0(module_->named_buffers(), "buffer");

  nn::Named<Tensor> trainable;
  for (auto& [name, tensor] : module_->named_parameters())
    if (tensor.requires_grad()) trainable.emplace_back(name, tensor);
  reducer_ = Reducer::create(std::move(trainable), comm_, reducer_options);
}

void DistributedDataParallel::broadcast_from_rank0(const nn::Named<Tensor>& tensors, const char* kind) {
  if (comm_->size() == 1 || tensors.empty()) return;
  // All issued first, then awaited: they run back to back on the communication thread.
  std::vector<std::pair<Tensor, WorkPtr>> pending;
  for (const auto& [name, tensor] : tensors) {
    Tensor buffer = tensor.to(wire_dtype(tensor.dtype())).contiguous();
    pending.emplace_back(buffer, comm_->broadcast(buffer, 0, {std::string(kind) + " '" + name + "'", step_}));
  }
  NoGradGuard no_grad;
  for (size_t i = 0; i < tensors.size(); ++i) {
    pending[i].second->wait();
    Tensor tensor = tensors[i].second;
    if (pending[i].first.is_same(tensor)) tensor.bump_version();
    else tensor.copy_(pending[i].first);
  }
}

void DistributedDataParallel::broadcast_buffers_from_rank0() {
  if (comm_->size() == 1) return;
  std::map<DType, std::vector<Tensor>> by_dtype;
  for (const auto& [name, tensor] : module_->named_buffers()) by_dtype[wire_dtype(tensor.dtype())].push_back(tensor);
  NoGradGuard no_grad;
  for (auto& [dtype, tensors] : by_dtype) {
    std::vector<Tensor> flat;
    for (const Tensor& tensor : tensors) flat.push_back(tensor.reshape({tensor.numel()}).to(dtype));
    const Tensor packed = cat(flat);
    comm_->broadcast(packed, 0, {std::string("buffers (") + dtype_name(dtype) + ")", step_})->wait_on_stream();
    int64_t offset = 0;
    for (Tensor& tensor : tensors) {
      tensor.copy_(packed.narrow(0, offset, tensor.numel()).reshape(tensor.shape()));
      offset += tensor.numel();
    }
  }
}

Tensor DistributedDataParallel::forward(const Tensor& input) {
  if (is_training() && options_.broadcast_buffers) broadcast_buffers_from_rank0();
  Tensor output = module_->forward(input);
  // Armed in evaluation mode too, as PyTorch: a backward through an eval-mode forward (frozen BatchNorm, no
  // dropout) must still average gradients, or each rank steps with its own and the replicas diverge.
  if (require_sync_ && GradMode::is_enabled() && output.requires_grad()) {
    reducer_->prepare_for_backward(output, step_);
    ++step_;
  }
  return output;
}

std::string DistributedDataParallel::extra_repr() const {
  std::ostringstream out;
  out << "world_size=" << comm_->size() << ", backend=" << comm_->backend() << ", " << describe_options(options_)
      << ", buckets=" << reducer_->buckets().size();
  return out.str();
}

}  // namespace tessera::dist
