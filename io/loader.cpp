#include "io/loader.h"

#include "core/stream.h"
#include "io/batch_reader.h"
#include "io/hdf5/error.h"
#include "io/hdf5/file.h"
#include "io/open_files.h"

namespace tessera::io {

struct Loader::Item {
  uint64_t generation = 0;
  std::optional<Batch> batch{};  // empty: end of epoch (or an error)
  std::exception_ptr error{};
  std::optional<Event> copied{};  // on an accelerator: passed once the batch's copy has
};

// Its events are reused (a wait takes the event's point when it is queued, so re-recording one later is safe):
// creating and destroying two a batch cost the host two driver calls each.
struct Loader::DeviceCopies {
  Stream stream;
  std::optional<Item> staged;  // the next item, its copy queued
  Event caller_point;          // where the copy stream waits for the caller's stream
  std::vector<Event> spare;    // items' `copied` events, waited for already
};

namespace {

SamplerOptions sampler_options(const ShardedDataset& dataset, const LoaderOptions& options, uint64_t seed) {
  return {.dataset_size = dataset.size(),
          .rank = options.rank,
          .world_size = options.world_size,
          .shuffle = options.shuffle,
          .seed = seed,
          .drop_last = options.drop_last,
          .evaluation = options.evaluation};
}

// The batch's tensors and mask, moved to `device` (queued on the current stream when non_blocking).
void move_to(Batch& batch, Device device, bool non_blocking) {
  for (Tensor& t : batch.tensors) t = t.to(device, non_blocking);
  batch.valid = batch.valid.to(device, non_blocking);
}

LoaderOptions with_defaults(LoaderOptions options) {
  if (options.max_open_files == 0) options.max_open_files = default_max_open_files();
  return options;
}

}  // namespace

Loader::Loader(DatasetOptions dataset, LoaderOptions options)
    : Loader(std::make_shared<const ShardedDataset>(std::move(dataset)), options) {}

Loader::Loader(std::shared_ptr<const ShardedDataset> dataset, LoaderOptions options)
    : dataset_(std::move(dataset)),
      options_(with_defaults(options)),
      sampler_(sampler_options(*dataset_, options_, options_.seed)),
      seed_(options_.seed) {
  h5::require_thread_safe_library("Loader");
  TESSERA_CHECK(options_.batch_size > 0, "Loader: batch_size must be positive, got ", options_.batch_size);
  TESSERA_CHECK(options_.prefetch > 0, "Loader: prefetch must be at least 1, got ", options_.prefetch);
  // The sampler ignores drop_last in evaluation mode (every sample once, padding masked), while batches_per_epoch
  // would still drop the last short batch: real samples would silently go unevaluated.
  TESSERA_CHECK(!(options_.drop_last && options_.evaluation),
                "Loader: drop_last cannot go with evaluation (evaluation reads every sample exactly once; drop_last "
                "would leave out the last short batch)");
  TESSERA_CHECK(!options_.pin_memory || !options_.device.is_cpu(),
                "Loader: pin_memory needs an accelerator device to copy batches to (LoaderOptions::device is cpu)");
  if (options_.pin_memory)
    copies_.reset(new DeviceCopies{Stream::create(options_.device), std::nullopt, Event(options_.device), {}});
  TESSERA_CHECK(batches_per_epoch() > 0, "Loader: batch_size ", options_.batch_size, " with drop_last leaves no batch of ",
                sampler_.num_samples(), " samples per rank (datasets ", dataset_->array_names(), ")");
  reader_ = std::thread([this] { reader_loop(); });
}

Loader::~Loader() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  changed_.notify_all();
  reader_.join();
}

int64_t Loader::batches_per_epoch() const {
  const int64_t n = sampler_.num_samples(), b = options_.batch_size;
  return options_.drop_last ? n / b : (n + b - 1) / b;
}

void Loader::restart() {
  std::lock_guard lock(mutex_);
  ++generation_;
  queue_.clear();
  job_ = Job{epoch_, position_, seed_, generation_};
  running_ = true;
  changed_.notify_all();
}

void Loader::set_epoch(int64_t epoch) {
  if (epoch == epoch_ && position_ == 0) return;
  epoch_ = epoch;
  position_ = 0;
  std::lock_guard lock(mutex_);
  running_ = false;
}

void Loader::load_state(const LoaderState& state) {
  TESSERA_CHECK(state.position >= 0 && state.position <= batches_per_epoch(), "Loader::load_state: position ",
                state.position, " is outside the epoch's ", batches_per_epoch(), " batches");
  const bool same = state.epoch == epoch_ && state.position == position_ && state.seed == seed_;
  epoch_ = state.epoch;
  position_ = state.position;
  seed_ = state.seed;
  std::lock_guard lock(mutex_);
  if (!same) running_ = false;
}

void Loader::start_if_stopped() {
  bool running;
  {
    std::lock_guard lock(mutex_);
    running = running_;
  }
  if (!running) restart();
}

std::optional<Loader::Item> Loader::pop_current() {
  while (!queue_.empty() && queue_.front().generation != generation_) queue_.pop_front();
  if (queue_.empty()) return std::nullopt;
  Item item = std::move(queue_.front());
  queue_.pop_front();
  changed_.notify_all();
  return item;
}

Loader::Item Loader::take() {
  std::unique_lock lock(mutex_);
  std::optional<Item> item;
  changed_.wait(lock, [&] { return (item = pop_current()).has_value(); });
  return std::move(*item);
}

std::optional<Loader::Item> Loader::try_take() {
  std::lock_guard lock(mutex_);
  return pop_current();
}

std::optional<Batch> Loader::deliver(Item item) {
  if (item.error) {
    std::lock_guard lock(mutex_);
    running_ = false;  // a later call starts over from the same position
    std::rethrow_exception(item.error);
  }
  if (!item.batch) {  // end of epoch: the reader goes on with the next one
    ++epoch_;
    position_ = 0;
    return std::nullopt;
  }
  ++position_;
  return std::move(item.batch);
}

std::optional<Batch> Loader::next() {
  start_if_stopped();
  if (copies_) return next_on_device();
  std::optional<Batch> batch = deliver(take());
  if (batch && !options_.device.is_cpu()) move_to(*batch, options_.device, /*non_blocking=*/false);
  return batch;
}

Loader::Item Loader::copy_to_device(Item item) {
  if (!item.batch) return item;
  const Device device = options_.device;
  copies_->caller_point.record();  // on the caller's current stream
  StreamGuard on_copy_stream(copies_->stream);
  copies_->caller_point.wait();
  move_to(*item.batch, device, /*non_blocking=*/true);
  if (copies_->spare.empty()) {
    item.copied.emplace(device);
  } else {
    item.copied.emplace(std::move(copies_->spare.back()));
    copies_->spare.pop_back();
  }
  item.copied->record();
  return item;  // the pinned host tensors go back to their cache, which reuses them only after the copies
}

std::optional<Batch> Loader::next_on_device() {
  std::optional<Item>& staged = copies_->staged;
  uint64_t generation;
  {
    std::lock_guard lock(mutex_);
    generation = generation_;
  }
  if (staged && staged->generation != generation) staged.reset();  // read before a restart
  Item item = staged ? std::move(*staged) : copy_to_device(take());
  staged.reset();
  if (item.copied) {
    item.copied->wait();  // the caller's stream waits for the copy, not the host
    copies_->spare.push_back(std::move(*item.copied));
    item.copied.reset();
  }
  std::optional<Batch> batch = deliver(std::move(item));
  if (std::optional<Item> ahead = try_take()) staged = copy_to_device(std::move(*ahead));
  return batch;
}

bool Loader::push(Item item, uint64_t generation) {
  std::unique_lock lock(mutex_);
  changed_.wait(lock, [&] {
    return stop_ || generation_ != generation || static_cast<int64_t>(queue_.size()) < options_.prefetch;
  });
  if (stop_ || generation_ != generation) return false;
  item.generation = generation;
  queue_.push_back(std::move(item));
  changed_.notify_all();
  return true;
}

void Loader::produce(const Job& job, BatchReader& reader) {
  DistributedSampler sampler(sampler_options(*dataset_, options_, job.seed));
  const int64_t batches = batches_per_epoch(), b = options_.batch_size;
  for (int64_t epoch = job.epoch, position = job.position;; ++epoch, position = 0) {
    sampler.set_epoch(epoch);
    const EpochPlan plan = sampler.plan();
    for (; position < batches; ++position) {
      const auto begin = static_cast<size_t>(position * b);
      const auto end = std::min(plan.indices.size(), begin + static_cast<size_t>(b));
      Batch batch = reader.read({plan.indices.begin() + begin, plan.indices.begin() + end},
                                {plan.valid.begin() + begin, plan.valid.begin() + end});
      if (!push({.batch = std::move(batch)}, job.generation)) return;
    }
    if (!push({}, job.generation)) return;  // end of epoch
  }
}

void Loader::reader_loop() {
  h5::silence_errors();  // HDF5's error printing is per thread
  BatchReader reader(dataset_, options_.cache_bytes, options_.max_open_files,
                     options_.pin_memory ? options_.device : Device());
  while (true) {
    Job job;
    {
      std::unique_lock lock(mutex_);
      changed_.wait(lock, [&] { return stop_ || job_.has_value(); });
      if (stop_) return;
      job = *job_;
      job_.reset();
    }
    // The error leaves the catch block before it is queued: the consumer then holds its only reference, and the
    // reader's own end of the handler happens before the queue's lock hands it over (no hidden ordering through
    // libstdc++'s reference count, which ThreadSanitizer cannot see).
    std::exception_ptr error;
    try {
      produce(job, reader);
    } catch (...) {
      error = std::current_exception();
    }
    if (error) push({.error = std::move(error)}, job.generation);
  }
}

}  // namespace tessera::io
