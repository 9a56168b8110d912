#pragma once
// OpenFiles<T>: the open state of at most `limit` shards (an HDF5 file and its datasets), least recently used
// closed first and reopened on demand. Why: every open file holds a descriptor, so a reader that kept all its shards
// open failed past `ulimit -n` (1,024 is common) with more than about a thousand shards.
#include <cstddef>
#include <list>
#include <unordered_map>
#include <utility>

#include "core/check.h"

namespace tessera::io {

// The default bound, per reader: a quarter of the process's open-file limit (`ulimit -n`, RLIMIT_NOFILE's soft
// value), so a training job's two loaders, MPI's sockets and the rest still fit (64 under `ulimit -n 256`, 256
// under 1,024); at least 16; at most 1,024, because HDF5 searches its open files at every open (with all 10,000 of
// tiny shards open, an epoch read slower than reopening through 64). Why not a small fixed number: a shuffled epoch
// over 1,000 tiny shards through 64 open files reopens a file for nearly every sample, several times slower (2-10x
// measured on a busy machine) than keeping them all open.
constexpr size_t kFewestOpenFilesByDefault = 16;
constexpr size_t kMostOpenFilesByDefault = 1024;
size_t default_max_open_files();

template <typename T>
class OpenFiles {
 public:
  explicit OpenFiles(size_t limit) : limit_(limit) {
    TESSERA_CHECK(limit > 0, "OpenFiles: the limit of open files must be at least 1, got ", limit);
  }
  size_t limit() const { return limit_; }
  size_t size() const { return entries_.size(); }

  // The open entry of `shard`. On a miss the least recently used entry is closed first (when `limit` are open), so
  // no more than `limit` are ever open, then `open()` makes the new one (if it throws, nothing is added). The
  // reference stays valid until a later get() of another shard.
  template <typename Open>
  T& get(size_t shard, Open&& open) {
    if (auto it = index_.find(shard); it != index_.end()) {
      entries_.splice(entries_.begin(), entries_, it->second);
      return it->second->second;
    }
    if (entries_.size() >= limit_) {
      index_.erase(entries_.back().first);
      entries_.pop_back();  // closes it
    }
    entries_.emplace_front(shard, open());
    index_[shard] = entries_.begin();
    return entries_.front().second;
  }

 private:
  size_t limit_;
  std::list<std::pair<size_t, T>> entries_;  // most recently used first
  std::unordered_map<size_t, typename std::list<std::pair<size_t, T>>::iterator> index_;
};

}  // namespace tessera::io
