#pragma once
// TensorBoard logging, like torch.utils.tensorboard.SummaryWriter:
//   io::SummaryWriter writer("runs/fmnist");
//   writer.add_scalar("train/loss", loss, step);
//   writer.add_histogram("weights/fc1.weight", fc1_weight.to_vector<double>(), step);
//   writer.add_text("config", "```json\n...\n```", 0);
// Writes log_dir/events.out.tfevents.<seconds>.<host>.<pid><suffix>; `tensorboard --logdir runs` reads it.
// Records reach the file at flush() (and every flush_every records, and on destruction).
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "io/tensorboard/record_writer.h"

namespace tessera::io {

struct SummaryWriterOptions {
  std::string filename_suffix{};
  int flush_every = 64;  // records between automatic flushes
  // As torch.utils.tensorboard's purge_step: the file starts with a session START at this step, so TensorBoard hides
  // the events earlier files of the directory hold at this step and later (a run resumed from a checkpoint before
  // them logs those steps again). The first START of a directory only marks its start.
  std::optional<int64_t> purge_step{};
};

class SummaryWriter {
 public:
  explicit SummaryWriter(const std::string& log_dir, const SummaryWriterOptions& options = {});
  ~SummaryWriter();

  // wall_time: seconds since the epoch; negative means now.
  void add_scalar(const std::string& tag, double value, int64_t step, double wall_time = -1);
  // `buckets` equal-width buckets between the values' minimum and maximum (TensorBoard's Histograms tab).
  void add_histogram(const std::string& tag, const std::vector<double>& values, int64_t step, int buckets = 30,
                     double wall_time = -1);
  void add_text(const std::string& tag, const std::string& text, int64_t step, double wall_time = -1);
  void flush();
  const std::string& path() const { return records_->path(); }

 private:
  void write(const std::string& record);
  std::unique_ptr<tensorboard::RecordWriter> records_;
  SummaryWriterOptions options_;
  int unflushed_ = 0;
};

}  // namespace tessera::io
