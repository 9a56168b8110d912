#pragma once
// PlanCache: the per-shape plans of a library (oneDNN primitives with their scratchpads and blocked buffers), made
// once per key and reused, the least recently used dropped beyond a capacity. A training run meets a few shapes per
// layer (the batch, the last partial batch, evaluation's batch); a program that meets many (images of varying size)
// would otherwise keep every plan's buffers, some the size of a layer's activations, for good. Invariants:
//  - a plan is made under the cache's lock, at most once per key while it stays cached; a make() that throws caches
//    nothing (the next call tries again); a null plan (a shape the library refuses) is cached like any other;
//  - plans are shared: one dropped while another thread runs it lives until that thread lets go of it.
#include <cstddef>
#include <cstdlib>
#include <list>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <utility>

namespace tessera::kernels::cpu {

// TESSERA_PLAN_CACHE_CAPACITY, else 1024 (oneDNN's own primitive cache default): the plans each cache keeps (at
// least 1). A plan per layer and batch size: a ResNet-50's 53 convolutions at three batch sizes need 159.
inline size_t plan_cache_capacity() {
  static const size_t capacity = [] {
    const char* env = std::getenv("TESSERA_PLAN_CACHE_CAPACITY");
    const long value = env ? std::atol(env) : 1024;
    return static_cast<size_t>(value > 0 ? value : 1);
  }();
  return capacity;
}

template <typename Key, typename Plan, typename Hash>
class PlanCache {
 public:
  explicit PlanCache(size_t capacity = plan_cache_capacity()) : capacity_(capacity > 0 ? capacity : 1) {}

  // The plan for `key`, made by `make()` (returning std::unique_ptr<Plan> or std::shared_ptr<Plan>) when absent.
  template <typename Make>
  std::shared_ptr<Plan> get(const Key& key, Make&& make) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (auto found = index_.find(key); found != index_.end()) {
      recent_.splice(recent_.begin(), recent_, found->second);
      return found->second->second;
    }
    std::shared_ptr<Plan> plan = make();
    recent_.emplace_front(key, plan);
    index_.emplace(key, recent_.begin());
    if (recent_.size() > capacity_) {
      index_.erase(recent_.back().first);
      recent_.pop_back();
    }
    return plan;
  }

  size_t size() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return recent_.size();
  }

 private:
  using Entry = std::pair<Key, std::shared_ptr<Plan>>;
  mutable std::mutex mutex_;
  size_t capacity_;
  std::list<Entry> recent_;  // most recently used first
  std::unordered_map<Key, typename std::list<Entry>::iterator, Hash> index_;
};

}  // namespace tessera::kernels::cpu
