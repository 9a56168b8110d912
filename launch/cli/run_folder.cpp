#include "launch/cli/run_folder.h"

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <system_error>

#include "core/check.h"
#include "io/training/atomic_file.h"
#include "io/training/checkpoint.h"

namespace tessera::cli {

namespace {

namespace fs = std::filesystem;

struct Found {
  const char* key;  // the config key naming the folder
  std::string dir;
  std::vector<std::string> paths;
};

std::vector<std::string> checkpoint_files(const std::string& dir) {
  std::vector<std::string> paths = io::list_checkpoints(dir);
  std::error_code error;
  for (const auto& entry : fs::directory_iterator(dir, error)) {
    const std::string name = entry.path().filename().string();
    // set aside by --resume (corrupt) and --resume-from (superseded)
    const bool set_aside = name.starts_with("ckpt-") && (name.ends_with(".corrupt") || name.ends_with(".superseded"));
    if (name == "best.h5" || set_aside) paths.push_back(entry.path().string());
  }
  return paths;
}

std::string file_names(const std::vector<std::string>& paths) {
  std::ostringstream out;
  const size_t shown = std::min<size_t>(paths.size(), 4);
  for (size_t i = 0; i < shown; ++i) out << (i ? ", " : "") << fs::path(paths[i]).filename().string();
  if (paths.size() > shown) out << " and " << paths.size() - shown << " more";
  return out.str();
}

}  // namespace

void claim_for_fresh_run(const RunFolders& folders, bool overwrite) {
  std::vector<Found> found;
  if (!folders.checkpoint_dir.empty()) {
    found.push_back({"checkpoint.dir", folders.checkpoint_dir, checkpoint_files(folders.checkpoint_dir)});
  }
  // Both files a run appends a row group per epoch to: left behind, the fresh run's epochs went after the old ones.
  std::error_code error;
  std::vector<std::string> logs;
  for (const char* name : kEpochLogFiles) {
    const fs::path path = fs::path(folders.log_dir) / name;
    if (!folders.log_dir.empty() && fs::exists(path, error)) logs.push_back(path.string());
  }
  found.push_back({"log_dir", folders.log_dir, logs});
  std::erase_if(found, [](const Found& f) { return f.paths.empty(); });
  if (found.empty()) return;

  std::ostringstream what;
  for (const auto& f : found) {
    what << (what.tellp() > 0 ? "; " : "") << f.key << " '" << f.dir << "' holds another run's files ("
         << file_names(f.paths) << ")";
  }
  TESSERA_CHECK(overwrite, "train: ", what.str(), ". A fresh run would overwrite or mix with them: give --resume to ",
                "continue that run, --overwrite to remove those files and start afresh, or use other folders");
  for (const auto& f : found) {
    for (const auto& path : f.paths) {
      fs::remove(path, error);
      TESSERA_CHECK(!error, "train --overwrite: cannot remove '", path, "': ", error.message());
      std::printf("--overwrite: removed %s (another run's file)\n", path.c_str());
    }
  }
}

void drop_epoch_log_rows_after(const std::string& log_dir, int64_t epochs) {
  for (const char* name : kEpochLogFiles) {
    const std::string path = (fs::path(log_dir) / name).string();
    std::ifstream in(path);
    if (!in.good()) continue;
    std::string kept;
    bool dropped = false, header = true;
    for (std::string line; std::getline(in, line); header = false) {
      long long epoch = 0;  // the first column
      if (!header && std::sscanf(line.c_str(), "%lld", &epoch) == 1 && epoch > epochs) dropped = true;
      else kept += line + "\n";
    }
    if (dropped) io::write_file_atomically(path, kept, {.what = "epoch log"});
  }
}

void remove_stale_checkpoint_temporaries(const std::string& dir) {
  for (const auto& path : io::remove_stale_temporaries(dir)) {
    std::printf("removed %s: a temporary checkpoint file left by a run that was killed while writing it\n",
                path.c_str());
  }
}

std::string new_run_id() {
  const std::time_t now = std::time(nullptr);
  std::tm utc{};
  ::gmtime_r(&now, &utc);
  char text[48];
  const size_t length = std::strftime(text, sizeof(text), "%Y%m%dT%H%M%SZ", &utc);
  std::snprintf(text + length, sizeof(text) - length, "-%08x", static_cast<unsigned>(std::random_device{}()));
  return text;
}

}  // namespace tessera::cli
