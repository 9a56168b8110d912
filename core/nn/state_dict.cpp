#include "core/nn/state_dict.h"

namespace tessera {

void StateDict::insert(std::string key, Tensor value) {
  TESSERA_CHECK(!contains(key), "StateDict::insert: duplicate key \"", key, "\"");
  index_.emplace(key, items_.size());
  items_.emplace_back(std::move(key), std::move(value));
}

void StateDict::set(const std::string& key, Tensor value) {
  auto it = index_.find(key);
  if (it == index_.end()) insert(key, std::move(value));
  else items_[it->second].second = std::move(value);
}

const Tensor& StateDict::at(const std::string& key) const {
  const Tensor* t = find(key);
  TESSERA_CHECK(t != nullptr, "StateDict: no key \"", key, "\"");
  return *t;
}

const Tensor* StateDict::find(const std::string& key) const {
  auto it = index_.find(key);
  return it == index_.end() ? nullptr : &items_[it->second].second;
}

std::vector<std::string> StateDict::keys() const {
  std::vector<std::string> out;
  out.reserve(items_.size());
  for (const auto& [key, value] : items_) out.push_back(key);
  return out;
}

}  // namespace tessera
