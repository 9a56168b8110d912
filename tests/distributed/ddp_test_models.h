#pragma once
// Models, data and cross-rank checks shared by the DistributedDataParallel tests (mpi_test_ddp*.cpp) and their
// failure drivers (drivers/ddp_*.cpp). Everything here is deterministic from a seed, so every rank can build the
// same full batch and the single-process reference locally.
#include <mpi.h>

#include <cmath>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "core/core.h"
#include "core/nn/nn.h"
#include "core/optim/optim.h"
#include "distributed/communicator.h"
#include "tests/support/nccl_on_cpu/nccl_on_cpu.h"

namespace tessera::dist::testing {

// One communicator over all ranks for the whole test program, for tensors on the device under test: MPI on the
// CPU and the test device (staged through pinned memory there); on a GPU, NCCL with one rank per GPU (auto), and
// MPI staging where ranks share the GPU (NCCL refuses that); in the *.nccl_on_cpu entries, the nccl backend over
// the CPU build of the CUDA backend (communicator_under_test).
inline std::shared_ptr<Communicator> world_comm() {
  static std::shared_ptr<Communicator> comm = tessera::testing::communicator_under_test(default_device());
  return comm;
}

// "mlp": 12 -> 24 -> 16 -> 5 with ReLUs; "cnn": two conv+relu+pool blocks on 1x8x8 inputs, then 32 -> 5.
// Initial weights come from `seed`.
inline std::shared_ptr<nn::Sequential> make_model(const std::string& kind, uint64_t seed, int64_t hidden = 24) {
  Generator gen(seed);
  if (kind == "cnn") {
    return std::make_shared<nn::Sequential>(
        nn::Conv2d({.in_channels = 1, .out_channels = 4, .kernel_size = 3, .padding = 1}, gen), nn::ReLU(),
        nn::MaxPool2d(2), nn::Conv2d({.in_channels = 4, .out_channels = 8, .kernel_size = 3, .padding = 1}, gen),
        nn::ReLU(), nn::MaxPool2d(2), nn::Flatten(), nn::Linear(8 * 2 * 2, 5, true, gen));
  }
  return std::make_shared<nn::Sequential>(nn::Linear(12, hidden, true, gen), nn::ReLU(),
                                          nn::Linear(hidden, 16, true, gen), nn::ReLU(), nn::Linear(16, 5, true, gen));
}

// The test MLP followed by a Linear(5, 5) named "extra" that forward applies only when `use_extra`: a model whose
// parameters are not all used (on every rank, or on some ranks only).
class WithOptionalLayer : public nn::Module {
 public:
  WithOptionalLayer(bool use_extra, uint64_t seed) : use_extra_(use_extra) {
    Generator gen(seed + 1);
    body_ = register_module("body", make_model("mlp", seed));
    extra_ = register_module("extra", nn::Linear(5, 5, true, gen));
  }
  Tensor forward(const Tensor& x) override {
    Tensor y = (*body_)(x);
    return use_extra_ ? (*extra_)(y) : y;
  }
  void set_use_extra(bool use_extra) { use_extra_ = use_extra; }

 private:
  bool use_extra_;
  std::shared_ptr<nn::Module> body_, extra_;
};

struct Batch {
  Tensor x;  // f32 inputs
  Tensor y;  // i64 class labels in [0, 5)
  Batch rows(int64_t start, int64_t count) const { return {x.narrow(0, start, count), y.narrow(0, start, count)}; }
};

// The full batch of `rows` samples for step `step`: the same on every rank.
inline Batch make_batch(const std::string& kind, int64_t rows, uint64_t step) {
  Generator gen(1000 + step);
  const Shape shape = kind == "cnn" ? Shape{rows, 1, 8, 8} : Shape{rows, 12};
  Tensor x = randn(shape, gen);
  return {x, randint(0, 5, {rows}, gen)};
}

enum class OptimizerKind { sgd_momentum, adamw };

inline std::unique_ptr<optim::Optimizer> make_optimizer(OptimizerKind kind, const std::vector<Tensor>& params) {
  if (kind == OptimizerKind::adamw) return std::make_unique<optim::AdamW>(params, optim::AdamWOptions{.lr = 0.01});
  return std::make_unique<optim::SGD>(params, optim::SGDOptions{.lr = 0.1, .momentum = 0.9});
}

// Every parameter's raw bytes, in registration order.
inline std::vector<char> parameter_bytes(const nn::Module& model) {
  std::vector<char> bytes;
  for (const Tensor& p : model.parameters()) {
    const Tensor c = p.detach().to(Device()).contiguous();  // host bytes, wherever the parameter lives
    const char* data = static_cast<const char*>(c.raw_data());
    bytes.insert(bytes.end(), data, data + c.nbytes());
  }
  return bytes;
}

// True when `bytes` are identical on every rank (checked with MPI directly, independent of the Communicator).
inline bool same_bytes_on_all_ranks(const std::vector<char>& bytes) {
  int size = 1;
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  std::vector<char> all(bytes.size() * size);
  MPI_Allgather(bytes.data(), static_cast<int>(bytes.size()), MPI_CHAR, all.data(), static_cast<int>(bytes.size()),
                MPI_CHAR, MPI_COMM_WORLD);
  for (int r = 1; r < size; ++r)
    if (std::memcmp(all.data(), all.data() + r * bytes.size(), bytes.size()) != 0) return false;
  return true;
}

// max |a - b| / max |b| over one parameter (0 for two empty tensors).
inline double relative_difference(const Tensor& a, const Tensor& b) {
  const std::vector<double> x = a.to_vector<double>(), y = b.to_vector<double>();
  double diff = 0, scale = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    diff = std::max(diff, std::abs(x[i] - y[i]));
    scale = std::max(scale, std::abs(y[i]));
  }
  return scale > 0 ? diff / scale : diff;
}

}  // namespace tessera::dist::testing
