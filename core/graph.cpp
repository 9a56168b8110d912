// Invariants (graph.h): one capture per thread at a time (capturing() is thread-local); the generator bases are
// written by one host-to-device copy before each replay, queued on the same stream, so the replay reads them.
#include "core/graph.h"

#include <atomic>

#include "core/backend_of.h"
#include "core/check.h"
#include "core/generator.h"
#include "core/ops/factory.h"

namespace tessera {

namespace {
thread_local DeviceGraph* current_capture = nullptr;
}

DeviceGraph::DeviceGraph(Device device) : device_(device) {}

DeviceGraph::~DeviceGraph() {
  if (handle_ == nullptr) return;
  try {
    backend_of(device_).destroy_graph(handle_);
  } catch (...) {  // a destructor must not throw; the device reports its error at the next call
  }
}

DeviceGraph* DeviceGraph::capturing() { return current_capture; }

void DeviceGraph::capture(const std::function<void()>& body) {
  TESSERA_CHECK(handle_ == nullptr, "DeviceGraph::capture: this graph is captured already (make a new one)");
  TESSERA_CHECK(current_capture == nullptr, "DeviceGraph::capture: this thread is capturing another graph");
  kernels::Backend& backend = backend_of(device_);
  static std::atomic<uint64_t> next_capture_id{1};
  capture_id_ = next_capture_id++;
  generator_bases_ = zeros({kMaxGenerators}, {.dtype = DType::i64, .device = device_});
  backend.synchronize();  // as torch.cuda.graph: what was queued before has run (graph.h)
  backend.begin_capture();
  current_capture = this;
  auto finish = [&] {
    current_capture = nullptr;
    for (const GeneratorUse& use : generators_) use.generator->set_offset(use.start);  // nothing was drawn yet
  };
  auto discard = [&] {
    generators_.clear();
    hooks_.clear();
    after_hooks_.clear();
  };
  try {
    body();
  } catch (...) {
    finish();
    try {
      backend.destroy_graph(backend.end_capture());
    } catch (...) {  // the body's error is the one to report
    }
    discard();
    throw;
  }
  finish();
  try {
    handle_ = backend.end_capture();
  } catch (...) {
    discard();
    throw;
  }
}

void DeviceGraph::replay() {
  TESSERA_CHECK(handle_ != nullptr, "DeviceGraph::replay: nothing captured yet");
  for (const auto& hook : hooks_) hook();
  if (!generators_.empty()) {
    std::vector<int64_t> bases(generators_.size());
    for (size_t i = 0; i < generators_.size(); ++i)
      bases[i] = static_cast<int64_t>(generators_[i].generator->take(generators_[i].words));
    backend_of(device_).copy_from_host(generator_bases_.raw_data(), bases.data(), bases.size() * sizeof(int64_t));
  }
  backend_of(device_).replay_graph(handle_);
  for (const auto& hook : after_hooks_) hook();
}

void DeviceGraph::add_replay_hook(std::function<void()> hook) { hooks_.push_back(std::move(hook)); }

void DeviceGraph::add_after_replay_hook(std::function<void()> hook) { after_hooks_.push_back(std::move(hook)); }

void DeviceGraph::place_fill(Generator& gen, kernels::RandomArgs& args, uint64_t words) {
  size_t index = 0;
  while (index < generators_.size() && generators_[index].generator != &gen) ++index;
  if (index == generators_.size()) {
    TESSERA_CHECK(static_cast<int64_t>(index) < kMaxGenerators, "DeviceGraph::capture: the step draws from more than ",
                  kMaxGenerators, " random generators");
    generators_.push_back({&gen, gen.offset(), 0});
  }
  GeneratorUse& use = generators_[index];
  args.seed = gen.seed();
  args.offset = gen.take(words) - use.start;
  args.offset_base = static_cast<const uint64_t*>(generator_bases_.raw_data()) + index;
  use.words = gen.offset() - use.start;
}

}  // namespace tessera
