// Checkpoint folders under faults (issue 14): a write that fails (a full disk, here the file-size limit) leaves the
// previous checkpoint, no temporary file and no open HDF5 handle, and throws naming the file; pruning deletes
// only the writing run's files; temporary files of killed writers are recognised and removed.
#include <gtest/gtest.h>
#include <hdf5.h>
#include <sys/resource.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <span>

#include "io/hdf5/file.h"
#include "io/training/atomic_file.h"
#include "io/training/checkpoint.h"
#include "tests/support/test_prelude.h"

using namespace tessera;
namespace fs = std::filesystem;

namespace {

fs::path fresh_dir(const std::string& name) {
  const fs::path dir = fs::temp_directory_path() / ("tessera_ckpt_folder_" + name + "_" + std::to_string(getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

io::Checkpoint checkpoint_of(int64_t step, const std::string& run, int64_t elements = 16) {
  io::Checkpoint checkpoint;
  checkpoint.model.insert("0.weight", full({elements}, static_cast<double>(step), {.device = Device()}));
  checkpoint.step = step;
  if (!run.empty()) checkpoint.meta["run_id"] = run;
  return checkpoint;
}

std::vector<std::string> names_in(const fs::path& dir) {
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir)) names.push_back(entry.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

// Files larger than `bytes` cannot be written while it lives (write() fails with EFBIG, as on a full disk with
// ENOSPC); SIGXFSZ, which would end the process, is ignored meanwhile.
class FileSizeLimit {
 public:
  explicit FileSizeLimit(rlim_t bytes) {
    getrlimit(RLIMIT_FSIZE, &saved_);
    previous_handler_ = std::signal(SIGXFSZ, SIG_IGN);
    const rlimit limit{bytes, saved_.rlim_max};
    EXPECT_EQ(setrlimit(RLIMIT_FSIZE, &limit), 0);
  }
  ~FileSizeLimit() {
    setrlimit(RLIMIT_FSIZE, &saved_);
    std::signal(SIGXFSZ, previous_handler_);
  }

 private:
  rlimit saved_{};
  void (*previous_handler_)(int) = nullptr;
};

}  // namespace

TEST(CheckpointWriteFailure, KeepsThePreviousFileRemovesTheTemporaryAndNamesTheFile) {
  const fs::path dir = fresh_dir("write_failure");
  const std::string path = io::save_numbered_checkpoint(dir.string(), checkpoint_of(1, "run"), 3);
  const std::string next = (dir / io::numbered_checkpoint_name(2)).string();
  {
    const FileSizeLimit limit(4096);  // far below a checkpoint of 256 KiB of weights
    expect_error([&] { io::save_numbered_checkpoint(dir.string(), checkpoint_of(2, "run", 1 << 16), 3); },
                 {"cannot write checkpoint '" + next + "'", "File too large", "temporary file", "was removed"});
    expect_error([&] { io::save_checkpoint((dir / "best.h5").string(), checkpoint_of(2, "run", 1 << 16)); },
                 {"cannot write checkpoint '" + (dir / "best.h5").string() + "'"});
  }
  EXPECT_EQ(names_in(dir), std::vector<std::string>{"ckpt-000000001.h5"}) << "a temporary file was left behind";
  EXPECT_EQ(io::load_checkpoint(path).step, 1);
  // Every HDF5 handle of the failed writes is closed: only the library's own property lists may remain.
  EXPECT_EQ(H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_FILE | H5F_OBJ_DATASET | H5F_OBJ_GROUP | H5F_OBJ_ATTR), 0);
  // The next write, with room again, succeeds.
  EXPECT_EQ(io::load_checkpoint(io::save_numbered_checkpoint(dir.string(), checkpoint_of(2, "run"), 3)).step, 2);
  fs::remove_all(dir);
}

TEST(CheckpointFolder, PruningDeletesOnlyTheWritingRunsFiles) {
  const fs::path dir = fresh_dir("prune");
  for (int64_t step : {10, 20, 30}) io::save_numbered_checkpoint(dir.string(), checkpoint_of(step, "old-run"), 2);
  EXPECT_EQ(names_in(dir), (std::vector<std::string>{"ckpt-000000020.h5", "ckpt-000000030.h5"}));
  // A new run whose steps interleave: it keeps its own newest 2, and the old run's files are not touched (before
  // run ids, the old run's higher steps counted as the newest and the new run's files were pruned at once).
  for (int64_t step : {5, 15, 25, 35}) io::save_numbered_checkpoint(dir.string(), checkpoint_of(step, "new-run"), 2);
  EXPECT_EQ(names_in(dir), (std::vector<std::string>{"ckpt-000000020.h5", "ckpt-000000025.h5", "ckpt-000000030.h5",
                                                     "ckpt-000000035.h5"}));
  EXPECT_EQ(io::checkpoint_run_id((dir / "ckpt-000000020.h5").string()), "old-run");
  EXPECT_EQ(io::checkpoint_run_id((dir / "ckpt-000000035.h5").string()), "new-run");
  EXPECT_EQ(io::checkpoint_run_id((dir / "missing.h5").string()), std::nullopt);
  fs::remove_all(dir);
}

// Past step 10^9 a name has 10 digits: it is listed, it is the newest, and pruning counts it after the 9-digit ones
// (before, the listing ignored it and --resume took the last 9-digit file). Names padded past 9 digits are not ours.
TEST(CheckpointFolder, StepsPastTenToTheNineSortAfterTheShorterNames) {
  const fs::path dir = fresh_dir("billion");
  for (int64_t step : {999999998, 999999999, 1000000000, 1000000001})
    io::save_numbered_checkpoint(dir.string(), checkpoint_of(step, "run"), 3);
  std::ofstream(dir / "ckpt-0000000002.h5") << "not ours";
  EXPECT_EQ(names_in(dir), (std::vector<std::string>{"ckpt-0000000002.h5", "ckpt-1000000000.h5", "ckpt-1000000001.h5",
                                                     "ckpt-999999999.h5"}));
  const std::vector<std::string> listed = io::list_checkpoints(dir.string());
  ASSERT_EQ(listed.size(), 3u);
  EXPECT_EQ(fs::path(listed[0]).filename(), "ckpt-999999999.h5");
  EXPECT_EQ(fs::path(*io::latest_checkpoint(dir.string())).filename(), "ckpt-1000000001.h5");
  EXPECT_EQ(io::load_checkpoint(*io::latest_checkpoint(dir.string())).step, 1000000001);
  fs::remove_all(dir);
}

// Checkpoints and predictions are written from a view of the core driver's buffer, not from a copy (a checkpoint
// was in memory twice): the bytes written are exactly those HDF5's own H5Fget_file_image copies out (the superblock's
// "open for writing" flags cleared), and they read back.
TEST(InMemoryFile, BytesAreHdf5sFileImage) {
  const fs::path dir = fresh_dir("image");
  const std::string path = (dir / "image.h5").string();
  const std::vector<float> values(300000, 1.5f);  // past the driver's 1 MiB growth step
  {
    const io::h5::File file = io::h5::File::create_in_memory(path);
    file.create_dataset("w", io::h5::ElementType::f32, {300000}).write_all(io::h5::ElementType::f32, values.data());
    io::h5::write_attribute(file.id(), "meta", std::string("{}"));
    const io::h5::FileImage image = file.image();
    std::vector<char> bytes(image.head.begin(), image.head.end());
    bytes.insert(bytes.end(), image.rest.begin(), image.rest.end());
    std::vector<char> copied(bytes.size() + 1);
    ASSERT_EQ(H5Fget_file_image(file.id(), copied.data(), copied.size()), static_cast<ssize_t>(bytes.size()));
    copied.pop_back();
    EXPECT_TRUE(bytes == copied);
    io::write_file_atomically(path, image.parts());
  }
  const io::h5::File read = io::h5::File::open_read_only(path);
  std::vector<float> back(values.size());
  read.open_dataset("w").read_runs({{.start = 0, .length = 300000}}, io::h5::ElementType::f32, back.data());
  EXPECT_EQ(back, values);
  EXPECT_EQ(io::h5::read_string_attribute(read.id(), "meta"), "{}");
  expect_error([&] { (void)read.image(); }, {"image.h5", "not an in-memory file"});
  fs::remove_all(dir);
}

TEST(CheckpointFolder, StaleTemporariesAreRemovedAndNothingElse) {
  const fs::path dir = fresh_dir("stale");
  for (const char* name : {"ckpt-000000064.h5.tmp-4242", "best.h5.tmp-17", "ckpt-000000032.h5", "notes.tmp-5",
                           "ckpt-000000064.h5.tmp-", "ckpt-000000064.h5.tmp-12x", "metrics.csv"}) {
    std::ofstream(dir / name) << "x";
  }
  const std::vector<std::string> stale = {(dir / "best.h5.tmp-17").string(),
                                          (dir / "ckpt-000000064.h5.tmp-4242").string()};
  EXPECT_EQ(io::remove_stale_temporaries(dir.string()), stale);
  EXPECT_EQ(names_in(dir), (std::vector<std::string>{"ckpt-000000032.h5", "ckpt-000000064.h5.tmp-",
                                                     "ckpt-000000064.h5.tmp-12x", "metrics.csv", "notes.tmp-5"}));
  EXPECT_TRUE(io::remove_stale_temporaries((dir / "absent").string()).empty());
  fs::remove_all(dir);
}
