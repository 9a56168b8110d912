// A bounded set of open shard files (issue 14, item 12): the reader used to keep every shard open, so more than
// about a thousand shards failed under `ulimit -n 1024`. Now at most LoaderOptions::max_open_files are open at once
// (least recently used closed first, reopened on demand; by default a quarter of `ulimit -n`), and the values read
// are unchanged.
// The 10,000-shard run under `ulimit -n 256` is tests/launch/data_many_shards.sh.
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>

#include <filesystem>
#include <set>
#include <system_error>

#include "io/open_files.h"
#include "tests/io/h5_files.h"
#include "tests/support/test_prelude.h"

namespace tessera::io {
namespace {

using testing::expect_batch_matches;
using testing::h5_files;
using testing::set_files;

// How many of this process's file descriptors are open on one of `files`.
int64_t descriptors_open_on(const std::set<std::filesystem::path>& files) {
  int64_t count = 0;
  for (const auto& fd : std::filesystem::directory_iterator("/proc/self/fd")) {
    std::error_code error;
    const auto target = std::filesystem::read_symlink(fd.path(), error);
    count += !error && files.count(target) ? 1 : 0;
  }
  return count;
}

TEST(OpenFiles, ClosesTheLeastRecentlyUsedFirst) {
  OpenFiles<int> open(2);
  int opened = 0;
  const auto get = [&](size_t shard) { return open.get(shard, [&] { return ++opened; }); };
  EXPECT_EQ(get(0), 1);
  EXPECT_EQ(get(1), 2);
  EXPECT_EQ(get(0), 1);  // still open: not reopened
  EXPECT_EQ(get(2), 3);  // closes 1, the least recently used
  EXPECT_EQ(open.size(), 2u);
  EXPECT_EQ(get(0), 1);
  EXPECT_EQ(get(1), 4);  // reopened
  EXPECT_EQ(get(2), 5);  // 2 was closed for 1
  expect_error([] { OpenFiles<int>(0); }, "must be at least 1");
}

TEST(OpenFiles, LoaderKeepsAtMostMaxOpenFilesAndReadsTheSameValues) {
  const std::vector<std::string> files = set_files("small_shards");  // 12 shards of 5 rows
  std::set<std::filesystem::path> paths;
  for (const auto& f : files) paths.insert(std::filesystem::canonical(f));
  const json& ref = h5_files()["sets"]["small_shards"];
  for (size_t limit : {size_t{1}, size_t{3}}) {
    SCOPED_TRACE("max_open_files " + std::to_string(limit));
    Loader loader(DatasetOptions{.files = files},
                  {.batch_size = 8, .shuffle = true, .prefetch = 2, .seed = 3, .max_open_files = limit});
    int64_t most_open = 0, samples = 0;
    for (int epoch = 0; epoch < 2; ++epoch) {
      while (auto batch = loader.next()) {
        expect_batch_matches(*batch, ref, "x", 1e-6);
        samples += batch->size();
        most_open = std::max(most_open, descriptors_open_on(paths));
      }
    }
    EXPECT_EQ(samples, 2 * 60);
    EXPECT_GE(most_open, 1);
    EXPECT_LE(most_open, static_cast<int64_t>(limit)) << "more shard files open than max_open_files";
  }
}

TEST(OpenFiles, DefaultIsAQuarterOfTheOpenFileLimit) {
  rlimit limit{};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &limit), 0);
  const size_t expected = std::clamp<size_t>(limit.rlim_cur / 4, 16, 1024);
  EXPECT_EQ(default_max_open_files(), expected);
  Loader loader(DatasetOptions{.files = set_files("small_shards")}, {});
  EXPECT_EQ(loader.options().max_open_files, expected);
}

}  // namespace
}  // namespace tessera::io
