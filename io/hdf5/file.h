#pragma once
// An open HDF5 file. Reading opens read-only, which honours HDF5_USE_FILE_LOCKING=FALSE (HDF5 1.10.7+ reads it
// from the environment; set it on shared file systems without working locks). Creating truncates.
#include <array>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "io/hdf5/dataset.h"

namespace tessera::io::h5 {

std::string library_version();  // "HDF5 1.10.8" (thread-safe build or not), for `tessera --version`
// Throws unless the HDF5 library loaded is a thread-safe build: a Loader's reader thread calls HDF5 while other
// threads do too (a second Loader's reader, checkpoints written by the training thread).
void require_thread_safe_library(const char* who);

// `rest` views the core driver's own buffer (valid until the next write to the file or its close); `head` is a copy
// of its first bytes with the superblock's "open for writing" flags cleared, as H5Fget_file_image clears them.
struct FileImage {
  std::vector<char> head;
  std::span<const char> rest;
  std::array<std::span<const char>, 2> parts() const { return {head, rest}; }
};

class File {
 public:
  // Errors name the path: missing file, not an HDF5 file (no signature), or HDF5's reason (e.g. truncated).
  static File open_read_only(const std::string& path);
  static File create(const std::string& path);
  // A file that lives only in memory (HDF5's core driver, no backing store): `name` only labels errors. Written
  // out from image(), so the disk sees plain POSIX writes whose failures (disk full) the caller handles; HDF5 never
  // holds a half-written file on disk that it would try to flush again at exit.
  static File create_in_memory(const std::string& name);

  // An in-memory file's bytes as it stands (flushed first), equal to what H5Fget_file_image copies out, without
  // that copy: a checkpoint is not held in memory twice.
  FileImage image() const;
  // Writes every open object's cached data and metadata out; an error (disk full, quota) names the file. Call it
  // before treating a written file as complete: the close in the destructor cannot report a failure.
  void flush() const;

  const std::string& path() const { return path_; }
  hid_t id() const { return id_.get(); }

  bool contains(const std::string& name) const;  // a link of that name exists (nested names "a/b" allowed)
  // Errors name the dataset and the file, and list the datasets the file does have.
  // numbers_only false: strings, compounds ... open too (Dataset::type_name() says what they hold).
  Dataset open_dataset(const std::string& name, const ChunkCache& cache = {}, bool numbers_only = true) const;
  Dataset create_dataset(const std::string& name, ElementType type, const Shape& shape,
                         const DatasetCreation& creation = {}) const;
  // Every dataset, depth first, e.g. {"x", "y", "meta/ids"}, also those reached through soft and external links.
  std::vector<std::string> dataset_names() const;

 private:
  File(FileId id, std::string path) : id_(std::move(id)), path_(std::move(path)) {}
  FileId id_;
  std::string path_;
};

// Attributes of a file (root group) or dataset, by identifier.
void write_attribute(hid_t object, const std::string& name, const std::string& value);
void write_attribute(hid_t object, const std::string& name, int64_t value);
// An integer attribute's exact value, or nothing when the object has no attribute of that name.
std::optional<int64_t> read_int64_attribute(hid_t object, const std::string& name);
// A scalar string attribute's text, or nothing when the object has no attribute of that name or it is not one
// string.
std::optional<std::string> read_string_attribute(hid_t object, const std::string& name);
// Every attribute as name and a printable value (strings, numbers and short numeric arrays).
std::vector<std::pair<std::string, std::string>> read_attributes(hid_t object);

}  // namespace tessera::io::h5
