#pragma once
// Loader: batches of one rank's share of a ShardedDataset, read ahead by a background thread.
//
//   io::Loader loader(io::DatasetOptions{.files = {"data/fmnist/train-*.h5"}},
//                     {.batch_size = 64, .seed = 1, .rank = world.rank, .world_size = world.size});
//   while (auto batch = loader.next()) train_step((*batch)["x"], (*batch)["y"]);  // one epoch, then nullopt
//
// Invariants:
//  - the reader thread makes every HDF5 call of this Loader after construction (the ShardedDataset scans metadata
//    in the constructing thread, before the thread starts); the consumer only takes finished batches;
//  - at most `prefetch` finished batches wait in the queue;
//  - batches depend only on (seed, epoch, position, rank, world_size, options): a restored state() yields the
//    same batches as an uninterrupted run;
//  - an exception on the reader thread is re-thrown by the next call to next(); the destructor stops and joins
//    the thread without waiting for a full queue to drain;
//  - on an accelerator with pin_memory, at most one batch beyond those handed out is copied ahead (staged_): the
//    copy stream first waits for the caller's stream at the moment the copy is queued, so device memory the copy
//    reuses is free of every use queued before; state() counts only batches handed out.
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>

#include "io/batch.h"
#include "io/distributed_sampler.h"
#include "io/hdf5/dataset.h"
#include "io/sharded_dataset.h"

namespace tessera::io {

struct LoaderOptions {
  int64_t batch_size = 64;
  bool shuffle = true;
  // Drop samples so every rank gets floor(n / world) (sampler) and drop the last incomplete batch.
  bool drop_last = false;
  // Every sample exactly once over all ranks; padding entries have batch.valid false (DistributedSampler).
  // Not with drop_last (an error).
  bool evaluation = false;
  int64_t prefetch = 4;  // finished batches queued ahead of the consumer
  uint64_t seed = 0;
  int rank = 0;  // pass dist::world().rank / .size; io does not depend on distributed/
  int world_size = 1;
  // Where next() delivers batches: the CPU, or an accelerator (cuda:N; the test device in tests). There, with
  // pin_memory, the reader thread assembles each batch in pinned host memory and next() copies it on the
  // loader's own copy stream, ordered for the caller's stream by an event (the host does not wait for the copy);
  // the following batch's copy is queued as soon as it has been read, so it runs while the caller computes.
  // Without pin_memory, next() copies synchronously. pin_memory needs an accelerator device.
  Device device = Device();
  bool pin_memory = false;
  // Decoded row blocks of chunked datasets kept by the reader thread (all shards and arrays together).
  size_t cache_bytes = size_t{256} << 20;
  // Shard files the reader thread keeps open at once (least recently used closed first, reopened on demand), so
  // datasets of many thousands of shards stay within `ulimit -n`. 0: default_max_open_files() (io/open_files.h),
  // a quarter of `ulimit -n`, between 16 and 1,024.
  size_t max_open_files = 0;
};

// Where iteration stands: batches `position` .. of epoch `epoch` come next.
struct LoaderState {
  int64_t epoch = 0;
  int64_t position = 0;
  uint64_t seed = 0;
};

class Loader {
 public:
  Loader(std::shared_ptr<const ShardedDataset> dataset, LoaderOptions options);
  Loader(DatasetOptions dataset, LoaderOptions options);
  ~Loader();
  Loader(const Loader&) = delete;
  Loader& operator=(const Loader&) = delete;

  // The next batch of the current epoch; nullopt once the epoch is over, after which the epoch number advances
  // and the next call starts the following epoch (already being read ahead). Re-throws reader errors.
  std::optional<Batch> next();
  // Starts `epoch` from its first batch (no-op when that is already where iteration stands).
  void set_epoch(int64_t epoch);

  LoaderState state() const { return {epoch_, position_, seed_}; }
  void load_state(const LoaderState& state);  // resumes exactly there, seed included

  int64_t batches_per_epoch() const;
  int64_t samples_per_epoch() const { return sampler_.num_samples(); }  // this rank's share
  const ShardedDataset& dataset() const { return *dataset_; }
  const LoaderOptions& options() const { return options_; }

 private:
  struct Item;  // a batch, an end-of-epoch mark or an error, tagged with the generation it belongs to
  struct DeviceCopies;  // the copy stream and the batch copied ahead
  struct Job {
    int64_t epoch = 0;
    int64_t position = 0;
    uint64_t seed = 0;
    uint64_t generation = 0;
  };

  void restart();  // discard read-ahead, read from (epoch_, position_) on
  void start_if_stopped();
  std::optional<Item> pop_current();  // under mutex_: drops stale items, pops the next current one if any
  Item take();                   // the next item of the current generation, waiting for the reader
  std::optional<Item> try_take();  // the same if one is queued already, without waiting
  std::optional<Batch> deliver(Item item);  // hands a batch out (or ends the epoch, or rethrows), counting it
  Item copy_to_device(Item item);  // queues the batch's copy on the copy stream (pin_memory)
  std::optional<Batch> next_on_device();
  void reader_loop();
  void produce(const Job& job, class BatchReader& reader);
  bool push(Item item, uint64_t generation);  // false when the job was superseded or the loader is stopping

  std::shared_ptr<const ShardedDataset> dataset_;
  LoaderOptions options_;
  DistributedSampler sampler_;  // the consumer's copy, for counts; the reader thread plans with its own

  int64_t epoch_ = 0;
  int64_t position_ = 0;
  uint64_t seed_ = 0;

  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<Item> queue_;
  std::optional<Job> job_;          // a job for the reader thread to start
  uint64_t generation_ = 0;         // bumped by every restart; older items and jobs are stale
  bool running_ = false;            // a job for (epoch_, position_) is being produced
  bool stop_ = false;
  std::thread reader_;
  std::unique_ptr<DeviceCopies> copies_;  // accelerator with pin_memory only
};

}  // namespace tessera::io
