#include "io/training/checkpoint.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iterator>
#include <regex>
#include <system_error>

#include "core/check.h"
#include "core/ops.h"
#include "core/optim/clip_grad.h"
#include "io/hdf5/error.h"
#include "io/hdf5/file.h"
#include "io/tensorboard/record_writer.h"
#include "io/training/atomic_file.h"

namespace tessera::io {

namespace {

namespace fs = std::filesystem;
using GroupId = h5::Handle<H5Gclose>;
constexpr const char* kFormat = "tessera.checkpoint.v1";
const char* const kSections[] = {"model", "optimizer", "scheduler", "callbacks"};
constexpr const char* kCrcAttribute = "crc32c";

// CRC32C of a host tensor's bytes as saved (native layout, which is also what H5Dread gives back).
uint32_t host_crc(const Tensor& host) {
  return tensorboard::crc32c({static_cast<const char*>(host.raw_data()), host.nbytes()});
}

void write_section(const h5::File& file, const std::string& group, const StateDict& tensors) {
  GroupId id(H5Gcreate2(file.id(), group.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
  TESSERA_H5_CHECK(id.get(), "cannot create group '", group, "' in checkpoint '", file.path(), "'");
  for (const auto& [name, value] : tensors) {
    TESSERA_CHECK(name.find('/') == std::string::npos, "checkpoint: tensor name '", name, "' contains '/'");
    const Tensor data = value.detach().to(Device()).contiguous();  // HDF5 reads host memory
    const h5::ElementType type = h5::element_type_for(data.dtype());
    const h5::Dataset dataset = file.create_dataset(group + "/" + name, type, data.shape());
    dataset.write_all(type, data.raw_data());
    h5::write_attribute(dataset.id(), kCrcAttribute, int64_t{host_crc(data)});
  }
}

DType dtype_of(h5::ElementType type, const std::string& where) {
  switch (type) {
    case h5::ElementType::f32: return DType::f32;
    case h5::ElementType::f64: return DType::f64;
    case h5::ElementType::i64: return DType::i64;
    case h5::ElementType::i32: return DType::i32;
    case h5::ElementType::u8: return DType::u8;
    default: TESSERA_THROW(where, ": element type ", h5::element_type_name(type), " is not one a checkpoint holds");
  }
}

StateDict read_section(const h5::File& file, const std::string& group, const std::vector<std::string>& names) {
  StateDict tensors;
  const std::string prefix = group + "/";
  for (const auto& full : names) {
    if (full.rfind(prefix, 0) != 0) continue;
    const h5::Dataset dataset = file.open_dataset(full);
    Tensor value = empty(dataset.shape(),
                         {.dtype = dtype_of(dataset.element_type(), dataset.where()), .device = Device()});
    TESSERA_H5_CHECK(H5Dread(dataset.id(), h5::native_memory_type(dataset.element_type()), H5S_ALL, H5S_ALL,
                             H5P_DEFAULT, value.raw_data()),
                     "cannot read ", dataset.where());
    // Checkpoints written before the CRCs have none: they load unchecked.
    if (const auto stored = h5::read_int64_attribute(dataset.id(), kCrcAttribute)) {
      const uint32_t computed = host_crc(value);
      TESSERA_CHECK(*stored == computed, "checkpoint '", file.path(), "': tensor ", full, " fails its CRC32C check ",
                    "(stored ", *stored, ", computed ", computed, "): the file is corrupted");
    }
    tensors.insert(full.substr(prefix.size()), value);
  }
  return tensors;
}

// "ckpt-<step>.h5", the step zero-padded to 9 digits; past 10^9 steps longer, never padded further.
bool is_numbered_name(const std::string& file_name) {
  static const std::regex numbered("ckpt-([0-9]{9}|[1-9][0-9]{9,})\\.h5");
  return std::regex_match(file_name, numbered);
}

// Numbered checkpoints in step order: a longer name holds a larger step.
bool earlier_step(const fs::path& a, const fs::path& b) {
  const std::string x = a.filename().string(), y = b.filename().string();
  return x.size() != y.size() ? x.size() < y.size() : x < y;
}

std::string attribute(const std::vector<std::pair<std::string, std::string>>& attributes, const std::string& name,
                      const std::string& path) {
  for (const auto& [key, value] : attributes) {
    if (key == name) return value;
  }
  TESSERA_THROW("checkpoint '", path, "' has no attribute '", name, "': not a Tessera checkpoint");
}

// An integer root attribute (step, epoch, world_size), read as an int64, not parsed back from read_attributes' text
// (display text: it once printed step 1234567 as "1.23457e+06", which std::stoll took as 1; floats still print so).
int64_t integer_attribute(const h5::File& file, const char* name) {
  std::optional<int64_t> value;
  try {
    value = h5::read_int64_attribute(file.id(), name);
  } catch (const Error& e) {
    TESSERA_THROW("checkpoint '", file.path(), "': attribute '", name, "' is not an integer (", e.message(), ")");
  }
  TESSERA_CHECK(value, "checkpoint '", file.path(), "' has no attribute '", name, "': not a Tessera checkpoint");
  return *value;
}

// CRC32C of the root attributes a resume takes its position from: step, epoch, world size and the meta text (loader
// position, RNG state, epoch sums, loss scale, callbacks' best scores). The tensors' CRCs do not cover them, and a
// flipped bit there loads as another RNG offset or position, silently.
uint32_t attributes_crc(int64_t step, int64_t epoch, int64_t world_size, const std::string& meta) {
  const std::string text =
      std::to_string(step) + "\n" + std::to_string(epoch) + "\n" + std::to_string(world_size) + "\n" + meta;
  return tensorboard::crc32c({text.data(), text.size()});
}
constexpr const char* kAttributesCrcAttribute = "attributes_crc32c";

}  // namespace

std::optional<std::string> first_non_finite(const Checkpoint& checkpoint) {
  const StateDict* sections[] = {&checkpoint.model, &checkpoint.optimizer, &checkpoint.scheduler,
                                 &checkpoint.callbacks};
  for (size_t i = 0; i < std::size(sections); ++i) {
    for (const auto& [name, value] : *sections[i]) {
      if (!value.is_floating_point()) continue;
      // max |x| is finite unless some element is NaN or inf: one reduction on the tensor's own device, with no
      // temporary of its size, and one scalar read, never a host read of device memory.
      if (!std::isfinite(optim::get_total_norm({value.detach()}, optim::kInfNorm).item<double>()))
        return std::string(kSections[i]) + "/" + name;
    }
  }
  return std::nullopt;
}

namespace {

// Builds the checkpoint's file image once and writes it to each path in order (best.h5, then the numbered file of
// the same step): one non-finite check and one image for both.
void save_to_paths(const std::vector<std::string>& paths, const Checkpoint& checkpoint,
                   const CheckpointWriteOptions& options) {
  std::string names;
  for (const auto& path : paths) names += (names.empty() ? "'" : " and '") + path + "'";
  const auto bad = first_non_finite(checkpoint);
  TESSERA_CHECK(!bad, "not writing checkpoint ", names, " of step ", checkpoint.step, ": tensor ", *bad,
                " holds NaN or inf (the run diverged)");
  {
    // Built in memory, then written with plain POSIX calls: a full disk fails one write() that we handle, and no
    // HDF5 handle is ever left on a half-written file (HDF5 would retry it at exit and could crash there).
    const h5::File file = h5::File::create_in_memory(paths.back());
    h5::write_attribute(file.id(), "format", std::string(kFormat));
    h5::write_attribute(file.id(), "step", checkpoint.step);
    h5::write_attribute(file.id(), "epoch", checkpoint.epoch);
    h5::write_attribute(file.id(), "world_size", checkpoint.world_size);
    const std::string meta = checkpoint.meta.dump();
    h5::write_attribute(file.id(), "meta", meta);
    h5::write_attribute(file.id(), kAttributesCrcAttribute,
                        int64_t{attributes_crc(checkpoint.step, checkpoint.epoch, checkpoint.world_size, meta)});
    write_section(file, "model", checkpoint.model);
    write_section(file, "optimizer", checkpoint.optimizer);
    write_section(file, "scheduler", checkpoint.scheduler);
    if (!checkpoint.callbacks.empty()) write_section(file, "callbacks", checkpoint.callbacks);  // older layout otherwise
    const h5::FileImage image = file.image();
    for (const auto& path : paths)
      write_file_atomically(path, image.parts(), {.what = "checkpoint", .before_rename = options.before_rename});
  }  // closed here, on success and on error alike
}

}  // namespace

void save_checkpoint(const std::string& path, const Checkpoint& checkpoint, const CheckpointWriteOptions& options) {
  save_to_paths({path}, checkpoint, options);
}

Checkpoint load_checkpoint(const std::string& path) {
  const h5::File file = h5::File::open_read_only(path);
  const auto attributes = h5::read_attributes(file.id());
  TESSERA_CHECK(attribute(attributes, "format", path) == kFormat, "checkpoint '", path, "' has format '",
                attribute(attributes, "format", path), "', expected '", kFormat, "'");
  Checkpoint checkpoint;
  checkpoint.step = integer_attribute(file, "step");
  checkpoint.epoch = integer_attribute(file, "epoch");
  checkpoint.world_size = integer_attribute(file, "world_size");
  const std::string meta = attribute(attributes, "meta", path);
  // Files written before this CRC have none: their attributes load unchecked.
  if (const auto stored = h5::read_int64_attribute(file.id(), kAttributesCrcAttribute)) {
    const uint32_t computed = attributes_crc(checkpoint.step, checkpoint.epoch, checkpoint.world_size, meta);
    TESSERA_CHECK(*stored == computed, "checkpoint '", path, "': its attributes (step, epoch, world_size, meta) fail ",
                  "their CRC32C check (stored ", *stored, ", computed ", computed, "): the file is corrupted");
  }
  checkpoint.meta = nlohmann::json::parse(meta, nullptr, false);
  TESSERA_CHECK(!checkpoint.meta.is_discarded(), "checkpoint '", path, "': attribute 'meta' is not valid JSON");
  const auto names = file.dataset_names();
  checkpoint.model = read_section(file, kSections[0], names);
  checkpoint.optimizer = read_section(file, kSections[1], names);
  checkpoint.scheduler = read_section(file, kSections[2], names);
  checkpoint.callbacks = read_section(file, kSections[3], names);
  TESSERA_CHECK(!checkpoint.model.empty(), "checkpoint '", path, "' has no /model datasets");
  const auto bad = first_non_finite(checkpoint);
  TESSERA_CHECK(!bad, "checkpoint '", path, "': tensor ", *bad, " holds NaN or inf; refusing to load it (written by a ",
                "run that diverged, or corrupted)");
  return checkpoint;
}

std::optional<ResumePoint> newest_good_checkpoint(const std::string& dir, const RejectedCheckpoint& on_rejected) {
  const auto paths = list_checkpoints(dir);
  if (paths.empty()) return std::nullopt;
  ResumePoint point;
  for (auto it = paths.rbegin(); it != paths.rend(); ++it) {
    try {
      point.checkpoint = load_checkpoint(*it);
      point.path = *it;
      return point;
    } catch (const std::exception& error) {  // corrupted, truncated or non-finite: try the previous one
      if (on_rejected) on_rejected(*it, error.what());
      point.rejected.push_back(*it);
    }
  }
  TESSERA_THROW("no checkpoint in ", dir, " verifies (all ", paths.size(), " rejected); nothing to resume from");
}

std::vector<std::string> list_checkpoints(const std::string& dir) {
  std::vector<std::string> paths;
  std::error_code error;
  if (!fs::is_directory(dir, error)) return paths;
  for (const auto& entry : fs::directory_iterator(dir, error)) {
    if (is_numbered_name(entry.path().filename().string())) paths.push_back(entry.path().string());
  }
  std::sort(paths.begin(), paths.end(), [](const std::string& a, const std::string& b) { return earlier_step(a, b); });
  return paths;
}

std::optional<std::string> latest_checkpoint(const std::string& dir) {
  auto paths = list_checkpoints(dir);
  if (paths.empty()) return std::nullopt;
  return paths.back();
}

std::string numbered_checkpoint_name(int64_t step) {
  char name[32];
  std::snprintf(name, sizeof(name), "ckpt-%09lld.h5", static_cast<long long>(step));
  return name;
}

std::string save_numbered_checkpoint(const std::string& dir, const Checkpoint& checkpoint, int64_t keep,
                                     const CheckpointWriteOptions& options, bool also_best) {
  std::error_code error;
  fs::create_directories(dir, error);
  TESSERA_CHECK(!error, "cannot create checkpoint directory ", dir, ": ", error.message());
  const std::string path = (fs::path(dir) / numbered_checkpoint_name(checkpoint.step)).string();
  if (also_best)
    save_to_paths({(fs::path(dir) / "best.h5").string(), path}, checkpoint, options);
  else
    save_checkpoint(path, checkpoint, options);
  // Prune only this run's files (a folder may hold another run's, which are never ours to delete), and only up to
  // this step: later ones (left when resuming from an older file with --resume-from) are replaced as the run
  // reaches their steps, never deleted ahead of that.
  auto paths = list_checkpoints(dir);
  const std::string run = run_id(checkpoint.meta);
  std::erase_if(paths, [&](const std::string& p) { return earlier_step(path, p) || checkpoint_run_id(p) != run; });
  for (size_t i = 0; i + keep < paths.size(); ++i) fs::remove(paths[i], error);
  return path;
}

std::string run_id(const nlohmann::json& meta) {
  return meta.is_object() && meta.contains("run_id") && meta["run_id"].is_string() ? meta["run_id"].get<std::string>()
                                                                                     : std::string();
}

std::optional<std::string> checkpoint_run_id(const std::string& path) {
  try {
    const h5::File file = h5::File::open_read_only(path);
    const auto meta = nlohmann::json::parse(attribute(h5::read_attributes(file.id()), "meta", path), nullptr, false);
    if (!meta.is_discarded()) return run_id(meta);
  } catch (const std::exception&) {  // unreadable: not provably this run's, so never pruned
  }
  return std::nullopt;
}

std::vector<std::string> remove_stale_temporaries(const std::string& dir) {
  std::vector<std::string> removed;
  std::error_code error;
  if (!fs::is_directory(dir, error)) return removed;
  const auto is_checkpoint = [](const std::string& base) { return base == "best.h5" || is_numbered_name(base); };
  for (const auto& entry : fs::directory_iterator(dir, error)) {
    if (!is_temporary_name(entry.path().filename().string(), is_checkpoint)) continue;
    if (fs::remove(entry.path(), error)) removed.push_back(entry.path().string());
  }
  std::sort(removed.begin(), removed.end());
  return removed;
}

}  // namespace tessera::io
