#pragma once
// Writing a whole file so that no reader ever sees it half-written, and a failed write leaves nothing behind.
//
// write_file_atomically writes "<path>.tmp-<pid>", fsyncs it, renames it over `path` and fsyncs the folder: `path`
// is always either the previous complete file or the new one. When a step fails (a full disk, an I/O error) the
// temporary file is closed and removed and the error names `path` and the reason. Only a process killed mid-write
// leaves its temporary file; is_temporary_name recognises those, so the next start can remove them.
#include <functional>
#include <span>
#include <string>

namespace tessera::io {

struct AtomicWriteOptions {
  std::string what = "file";  // names the file in errors: "cannot write checkpoint '...'"
  // Called once the temporary file is complete and synced, before the rename (tests kill the process here; an
  // exception from it passes through and, like a kill, leaves the temporary file).
  std::function<void(const std::string& temporary_path)> before_rename{};
};

void write_file_atomically(const std::string& path, std::span<const char> bytes,
                           const AtomicWriteOptions& options = {});
// The same for a file given in parts, written one after another.
void write_file_atomically(const std::string& path, std::span<const std::span<const char>> parts,
                           const AtomicWriteOptions& options = {});

// "<path>.tmp-<pid>" for this process.
std::string temporary_path_of(const std::string& path);
// True when `file_name` is "<base>.tmp-<digits>" for a `base` for which is_base(base) holds.
bool is_temporary_name(const std::string& file_name, const std::function<bool(const std::string& base)>& is_base);

}  // namespace tessera::io
