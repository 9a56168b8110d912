#include "io/tensorboard/summary_writer.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <system_error>

#include "core/check.h"
#include "io/tensorboard/event_encoder.h"

namespace tessera::io {

namespace {

double now_seconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string host_name() {
  char name[256] = {};
  return gethostname(name, sizeof(name) - 1) == 0 ? std::string(name) : std::string("localhost");
}

// TensorBoard reads a directory's event files in name order, which must be the order they were written in (a
// resumed run's session START hides what the files before it logged later). Names differ in the second, then the
// pid, whose digits do not sort as numbers: a later file of the same second gets the next free second.
std::string next_file_name(const std::string& log_dir, int64_t seconds, const std::string& rest) {
  std::string last;
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator(log_dir, error)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind("events.out.tfevents.", 0) == 0) last = std::max(last, name);
  }
  std::string name;
  do name = "events.out.tfevents." + std::to_string(seconds++) + rest;
  while (name <= last);
  return name;
}

}  // namespace

SummaryWriter::SummaryWriter(const std::string& log_dir, const SummaryWriterOptions& options) : options_(options) {
  std::error_code error;
  std::filesystem::create_directories(log_dir, error);
  TESSERA_CHECK(!error, "cannot create TensorBoard log directory ", log_dir, ": ", error.message());
  const double wall_time = now_seconds();
  const std::string name = next_file_name(log_dir, static_cast<int64_t>(wall_time),
                                          "." + host_name() + "." + std::to_string(getpid()) + options.filename_suffix);
  records_ = std::make_unique<tensorboard::RecordWriter>((std::filesystem::path(log_dir) / name).string());
  records_->write(tensorboard::encode_file_version_event(wall_time));
  if (options.purge_step) records_->write(tensorboard::encode_session_start_event(wall_time, *options.purge_step));
  records_->flush();
}

SummaryWriter::~SummaryWriter() {
  try {
    flush();
  } catch (...) {  // a destructor must not throw; the last records are lost with the disk that refused them
  }
}

void SummaryWriter::add_scalar(const std::string& tag, double value, int64_t step, double wall_time) {
  write(tensorboard::encode_scalar_event(wall_time < 0 ? now_seconds() : wall_time, step, tag,
                                         static_cast<float>(value)));
}

void SummaryWriter::add_histogram(const std::string& tag, const std::vector<double>& values, int64_t step, int buckets,
                                  double wall_time) {
  TESSERA_CHECK(!values.empty(), "SummaryWriter::add_histogram: no values for '", tag, "'");
  write(tensorboard::encode_histogram_event(wall_time < 0 ? now_seconds() : wall_time, step, tag,
                                            tensorboard::make_histogram(values, buckets)));
}

void SummaryWriter::add_text(const std::string& tag, const std::string& text, int64_t step, double wall_time) {
  write(tensorboard::encode_text_event(wall_time < 0 ? now_seconds() : wall_time, step, tag, text));
}

void SummaryWriter::write(const std::string& record) {
  records_->write(record);
  if (++unflushed_ >= options_.flush_every) flush();
}

void SummaryWriter::flush() {
  records_->flush();
  unflushed_ = 0;
}

}  // namespace tessera::io
