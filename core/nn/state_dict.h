#pragma once
// StateDict: an ordered name -> Tensor map, the saveable state of a module (parameters and buffers by dotted
// name) or of an optimizer (hyper-parameters and per-parameter state). Insertion order is kept, so two processes
// that build the same model produce the same key order; keys are unique.
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/tensor.h"

namespace tessera {

class StateDict {
 public:
  using Item = std::pair<std::string, Tensor>;

  // Adds a new key at the end; a key already present is an error naming it.
  void insert(std::string key, Tensor value);
  // Replaces the value of an existing key, or adds it at the end.
  void set(const std::string& key, Tensor value);
  bool contains(const std::string& key) const { return index_.count(key) != 0; }
  const Tensor& at(const std::string& key) const;  // error naming the key when absent
  const Tensor* find(const std::string& key) const;  // nullptr when absent
  std::vector<std::string> keys() const;

  size_t size() const { return items_.size(); }
  bool empty() const { return items_.empty(); }
  std::vector<Item>::const_iterator begin() const { return items_.begin(); }
  std::vector<Item>::const_iterator end() const { return items_.end(); }

 private:
  std::vector<Item> items_;
  std::unordered_map<std::string, size_t> index_;
};

}  // namespace tessera
