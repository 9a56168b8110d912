#include "io/training/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <optional>
#include <system_error>

#include "core/check.h"

namespace tessera::io {

namespace {

namespace fs = std::filesystem;
constexpr std::string_view kTemporaryMark = ".tmp-";

// The reason of the last failed call, e.g. "No space left on device".
std::string last_error() { return std::strerror(errno); }

// Writes every byte of every part to a new file at `temporary` and syncs it; the reason when something fails.
std::optional<std::string> write_and_sync(const std::string& temporary, std::span<const std::span<const char>> parts) {
  const int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return last_error();
  std::optional<std::string> failure;
  for (const std::span<const char> bytes : parts) {
    for (size_t done = 0; done < bytes.size() && !failure;) {
      const ssize_t written = ::write(fd, bytes.data() + done, bytes.size() - done);
      if (written < 0 && errno == EINTR) continue;
      if (written <= 0) failure = written < 0 ? last_error() : "the write made no progress";
      else done += static_cast<size_t>(written);
    }
  }
  // Delayed allocation (tmpfs, NFS, ext4) can report a full disk only at fsync or close.
  if (!failure && ::fsync(fd) != 0) failure = last_error();
  if (::close(fd) != 0 && !failure) failure = last_error();
  return failure;
}

void fsync_directory(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  TESSERA_CHECK(fd >= 0, "cannot open the folder ", dir, " to sync it: ", last_error());
  const int result = ::fsync(fd);
  const std::string reason = result == 0 ? "" : last_error();
  ::close(fd);
  TESSERA_CHECK(result == 0, "cannot sync the folder ", dir, ": ", reason);
}

}  // namespace

std::string temporary_path_of(const std::string& path) {
  return path + std::string(kTemporaryMark) + std::to_string(::getpid());
}

bool is_temporary_name(const std::string& file_name, const std::function<bool(const std::string&)>& is_base) {
  const size_t mark = file_name.rfind(kTemporaryMark);
  if (mark == std::string::npos) return false;
  const std::string pid = file_name.substr(mark + kTemporaryMark.size());
  return !pid.empty() && pid.find_first_not_of("0123456789") == std::string::npos && is_base(file_name.substr(0, mark));
}

void write_file_atomically(const std::string& path, std::span<const char> bytes, const AtomicWriteOptions& options) {
  write_file_atomically(path, std::span<const std::span<const char>>(&bytes, 1), options);
}

void write_file_atomically(const std::string& path, std::span<const std::span<const char>> parts,
                           const AtomicWriteOptions& options) {
  const std::string temporary = temporary_path_of(path);
  std::optional<std::string> failure = write_and_sync(temporary, parts);
  // Stands in for a crash: what it throws passes through and leaves the temporary file, as a kill would.
  if (!failure && options.before_rename) options.before_rename(temporary);
  std::error_code error;
  if (!failure) {
    fs::rename(temporary, path, error);
    if (error) failure = "cannot rename " + temporary + " to it: " + error.message();
  }
  if (failure) {
    ::unlink(temporary.c_str());
    TESSERA_THROW("cannot write ", options.what, " '", path, "': ", *failure, " (its temporary file ", temporary,
                  " was removed; the file's previous version, if any, is untouched)");
  }
  fsync_directory(fs::path(path).parent_path().empty() ? "." : fs::path(path).parent_path().string());
}

}  // namespace tessera::io
