#include "core/amp/cast_cache.h"

#include <memory>
#include <mutex>
#include <vector>

#include "core/autograd/grad_mode.h"
#include "core/graph.h"

namespace tessera::amp {

namespace {

// Guards every CastCopy, every AutogradMeta::cast_copy and the registry (touched once per parameter per step).
std::mutex mutex;
// The parameters that got an entry, held weakly, for clear_cast_cache. Never destroyed: parameters may outlive main.
std::vector<std::weak_ptr<TensorImpl>>& registry() {
  static auto* params = new std::vector<std::weak_ptr<TensorImpl>>();
  return *params;
}

bool is_parameter(const Tensor& t) {
  return t.dtype() == DType::f32 && t.is_leaf() && t.requires_grad() && t.is_contiguous();
}

std::shared_ptr<CastCopy>& entry_of(const Tensor& param) { return param.impl()->autograd_meta().cast_copy; }

// The copy may stand for `param` converted to `dtype` once its values are refreshed.
bool fits(const CastCopy& entry, const Tensor& param, DType dtype) {
  return entry.copy.defined() && entry.copy.dtype() == dtype && entry.copy.shape() == param.shape() &&
         entry.copy.device() == param.device();
}

// The copy is param's conversion now.
bool is_current(const CastCopy& entry, const Tensor& param) {
  return fits(entry, param, entry.copy.dtype()) && entry.version == param.version() &&
         entry.storage.lock() == param.impl()->storage;
}

// Rewrites the copy from the parameter, in place: a graph that captured the copy's address keeps reading it.
void refresh(CastCopy& entry, const Tensor& param) {
  NoGradGuard no_grad;
  entry.copy.copy_(param);
  entry.storage = param.impl()->storage;
  entry.version = param.version();
}

// A graph being captured uses the copy (its forward reads it, its optimizer step writes it): before every replay the
// copy is made the parameter's entry again (another graph's, or one made after clear_cast_cache, may have taken its
// place) and refreshed unless current: the parameter may have been written since, by an eager step or another
// graph's replay. The hook also keeps the copy alive for the graph.
void keep_for_graph(DeviceGraph& graph, const Tensor& param, const std::shared_ptr<CastCopy>& entry) {
  if (entry->graph_capture == graph.capture_id()) return;
  entry->graph_capture = graph.capture_id();
  graph.add_replay_hook([param, entry] {
    const std::lock_guard lock(mutex);
    std::shared_ptr<CastCopy>& current = entry_of(param);
    if (!current) registry().push_back(param.impl_ptr());  // cleared since
    current = entry;
    if (!is_current(*entry, param)) refresh(*entry, param);
  });
}

}  // namespace

Tensor cached_cast(const Tensor& t, DType dtype) {
  if (!is_parameter(t)) return t.to(dtype);
  DeviceGraph* graph = DeviceGraph::capturing();
  Tensor copy;
  {
    const std::lock_guard lock(mutex);
    std::shared_ptr<CastCopy>& entry = entry_of(t);
    if (entry && fits(*entry, t, dtype)) {
      if (!is_current(*entry, t) && graph == nullptr) refresh(*entry, t);
      if (is_current(*entry, t)) copy = entry->copy;
    } else if (graph == nullptr) {  // memory allocated while capturing would be the graph's
      const uint32_t version = t.version();
      {
        NoGradGuard no_grad;
        copy = t.detach().to(dtype);
      }
      if (!entry) {
        std::erase_if(registry(), [](const std::weak_ptr<TensorImpl>& p) { return p.expired(); });
        registry().push_back(t.impl_ptr());
      }
      entry = std::make_shared<CastCopy>(CastCopy{.copy = copy, .storage = t.impl()->storage, .version = version});
    }
    if (copy.defined() && graph != nullptr) keep_for_graph(*graph, t, entry);
  }
  if (!copy.defined()) {  // a capture meeting a stale copy: the graph converts at every replay
    NoGradGuard no_grad;
    copy = t.detach().to(dtype);
  }
  Tensor out = copy.detach();  // its own handle: the node goes on it, never on the cached tensor
  detail::record_dtype_conversion(t, out);
  return out;
}

Tensor current_copy(const Tensor& param) {
  if (!is_parameter(param)) return Tensor();
  const std::lock_guard lock(mutex);
  const std::shared_ptr<CastCopy>& entry = entry_of(param);
  if (!entry || !is_current(*entry, param)) return Tensor();
  if (DeviceGraph* graph = DeviceGraph::capturing()) keep_for_graph(*graph, param, entry);
  return entry->copy;
}

void mark_current(const Tensor& param) {
  const std::lock_guard lock(mutex);
  const std::shared_ptr<CastCopy>& entry = entry_of(param);
  if (!entry) return;
  entry->version = param.version();
  entry->copy.bump_version();
}

void clear_cast_cache() {
  const std::lock_guard lock(mutex);
  for (const std::weak_ptr<TensorImpl>& p : registry())
    if (const std::shared_ptr<TensorImpl> impl = p.lock(); impl && impl->autograd) impl->autograd->cast_copy.reset();
  registry().clear();
}

size_t cast_cache_size() {
  const std::lock_guard lock(mutex);
  std::erase_if(registry(), [](const std::weak_ptr<TensorImpl>& p) {
    const std::shared_ptr<TensorImpl> impl = p.lock();
    return !impl || !impl->autograd || !impl->autograd->cast_copy;
  });
  return registry().size();
}

}  // namespace tessera::amp
