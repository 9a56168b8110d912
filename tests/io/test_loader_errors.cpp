// Bad input: each case gives one tessera::Error naming the file and the dataset(s), never a crash or a hang.
// The files are written by h5py (make_h5_files.py); the last case deletes a shard while the reader thread runs,
// and the error surfaces in the consuming thread on its next batch. Also: a filter this HDF5 cannot decode (h5py's
// lzf) fails when the dataset is opened, not at its first read; text labels say so; a latest-format file whose
// writer died names `h5clear -s`.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>

#include "tests/io/h5_files.h"
#include "tests/support/test_prelude.h"

namespace tessera::io {
namespace {

using testing::h5_files;

std::string bad(const std::string& name) { return h5_files()["bad"][name].get<std::string>(); }

void open_dataset(const std::string& file, const ArraySpec& x = {.name = "x"}) {
  ShardedDataset dataset({.files = {file}, .arrays = {x, {.name = "y", .dtype = DType::i64}}});
}

TEST(LoaderErrors, MissingFile) {
  const std::string path = std::filesystem::path(bad("flat")).parent_path() / "no_such_file.h5";
  expect_error([&] { open_dataset(path); }, {"file '" + path + "' does not exist", "'x', 'y'"});
}

TEST(LoaderErrors, GlobMatchingNothing) {
  const std::string pattern = std::filesystem::path(bad("flat")).parent_path() / "nothing-*.h5";
  expect_error([&] { open_dataset(pattern); }, {"file pattern '" + pattern + "' matches no file", "'x', 'y'"});
}

// Overlapping patterns, or one file under two spellings, would read its samples twice each epoch.
TEST(LoaderErrors, FileGivenTwice) {
  const std::filesystem::path file = bad("flat");
  const std::string dotted = (file.parent_path() / "." / file.filename()).string();
  const auto open = [](std::vector<std::string> files) {
    ShardedDataset dataset({.files = std::move(files), .arrays = {{.name = "x"}, {.name = "y", .dtype = DType::i64}}});
  };
  expect_error([&] { open({file, dotted}); }, {"data file '" + dotted + "' is given twice (also as '" +
                                                   file.string() + "')", "'x', 'y'"});
  const std::string pattern = (file.parent_path() / "fla?.h5").string();
  expect_error([&] { open({pattern, file}); }, {"data file '" + file.string() + "' is given twice"});
}

TEST(LoaderErrors, MissingDatasetName) {
  expect_error([&] { open_dataset(bad("missing_dataset")); },
               {"dataset 'y' not found in file '" + bad("missing_dataset") + "'", "'labels'"});
}

TEST(LoaderErrors, MismatchedFirstDimensions) {
  expect_error([&] { open_dataset(bad("mismatched")); },
               {"dataset 'y' of file '" + bad("mismatched") + "' has 9 rows but dataset 'x' has 10"});
}

TEST(LoaderErrors, ZeroLengthDataset) {
  expect_error([&] { open_dataset(bad("empty")); }, {"dataset 'x' of file '" + bad("empty") + "' is empty"});
}

TEST(LoaderErrors, WrongRankForAnImageModel) {
  expect_error([&] { open_dataset(bad("flat"), {.name = "x", .rank = 4}); },
               {"dataset 'x' of file '" + bad("flat") + "' has rank 1", "rank 4 is expected"});
}

TEST(LoaderErrors, TruncatedFile) {
  expect_error([&] { open_dataset(bad("truncated")); },
               {"cannot open HDF5 file '" + bad("truncated") + "'", "truncated", "'x', 'y'"});
}

TEST(LoaderErrors, NotAnHdf5File) {
  expect_error([&] { open_dataset(bad("not_hdf5")); },
               {"file '" + bad("not_hdf5") + "' is not an HDF5 file", "'x', 'y'"});
}

TEST(LoaderErrors, VirtualDatasetWithAMissingSourceFailsAtOpen) {
  // HDF5 (and h5py) read a source it cannot find as fill values: the run would train on zeros.
  const std::string vds = bad("vds_missing_source");
  const std::string folder = std::filesystem::path(vds).parent_path();
  expect_error([&] { open_dataset(vds); },
               {"dataset 'x' of file '" + vds + "' is a virtual dataset whose source file 'vds_sources/gone.h5' "
                "(mapping 2 of 2) cannot be opened", "'" + folder + "/vds_sources/gone.h5'", "HDF5_VDS_PREFIX"});
  const std::string other = bad("vds_missing_dataset");
  expect_error([&] { open_dataset(other); },
               {"dataset 'y' of file '" + other + "' is a virtual dataset whose source dataset 'z' (mapping 2 of 2) is "
                "not in its source file '" + folder + "/vds_sources/part1.h5'"});
}

TEST(LoaderErrors, FilterThisHdf5CannotDecodeFailsAtOpen) {
  // h5py's lzf is no HDF5 filter: without its plugin the chunks cannot be read. That used to surface at the first
  // read (for a test set, after a whole training epoch) as HDF5's plugin-search messages, naming no filter.
  if (H5Zfilter_avail(32000) > 0) GTEST_SKIP() << "this HDF5 decodes lzf (its plugin is on HDF5_PLUGIN_PATH)";
  H5Eclear2(H5E_DEFAULT);
  expect_error([&] { open_dataset(bad("lzf")); },
               {"dataset 'x' of file '" + bad("lzf") + "' is compressed with the 'lzf' filter", "cannot decode",
                "HDF5_PLUGIN_PATH"});
}

TEST(LoaderErrors, TextLabelsSaySoAndSuggestIndices) {
  // y holds b"cat", b"dog": the error said "unsupported element type (class 3, 3 bytes)".
  expect_error([&] { open_dataset(bad("text_labels")); },
               {"dataset 'y' of file '" + bad("text_labels") + "' holds string (3 bytes) elements",
                "store their indices instead"});
}

TEST(LoaderErrors, LatestFormatFileWhoseWriterDiedNamesH5clear) {
  // HDF5 itself says "may use <h5clear file>"; the error said "corrupt or truncated?" before it.
  expect_error([&] { open_dataset(bad("writer_died")); },
               {"cannot open HDF5 file '" + bad("writer_died") + "' (marked as open for writing",
                "died without closing it", "`h5clear -s FILE`", "'x', 'y'"});
}

TEST(LoaderErrors, BadNormalisation) {
  const std::string file = h5_files()["sets"]["u8_images"]["files"][0];
  expect_error([&] { open_dataset(file, {.name = "x", .mean = {0.1, 0.2}}); },
               {"dataset 'x' of file '" + file + "'", "mean has 2 values; expected 1 or 1"});
}

TEST(LoaderErrors, FileDeletedWhileReading) {
  // Copies of three 100-row shards; read in order, batches of 10, two ahead: the reader opens the third shard
  // only after the consumer has taken ~18 batches, long after the file is gone.
  const auto sources = h5_files()["sets"]["deletable"]["files"].get<std::vector<std::string>>();
  std::vector<std::string> files;
  for (const auto& source : sources) {
    files.push_back(source + ".copy.h5");
    std::filesystem::copy_file(source, files.back(), std::filesystem::copy_options::overwrite_existing);
  }
  Loader loader(DatasetOptions{.files = files}, {.batch_size = 10, .shuffle = false, .prefetch = 2});
  ASSERT_TRUE(loader.next());
  std::filesystem::remove(files[2]);
  int64_t batches = 1;
  expect_error(
      [&] {
        while (loader.next()) ++batches;
      },
      {"file '" + files[2] + "' does not exist", "'x', 'y'"});
  EXPECT_EQ(batches, 20) << "every batch before the deleted shard arrives, then the error";
  expect_error([&] { loader.next(); }, "does not exist");  // still failing, not hanging
}

TEST(LoaderErrors, NonFiniteSampleNamesFileAndRowWhenChecked) {
  const std::string file = bad("non_finite");
  // Unchecked, the NaN arrives in its batch (as PyTorch's loaders pass it on).
  Loader unchecked(DatasetOptions{.files = {file}}, {.batch_size = 10, .shuffle = false});
  const std::optional<Batch> batch = unchecked.next();
  ASSERT_TRUE(batch.has_value());
  EXPECT_TRUE(std::isnan((*batch)["x"].to_vector<float>()[6 * 4 + 2]));
  // Checked, the batch holding row 6 fails naming the file, the dataset and the row, shuffled or not.
  for (bool shuffle : {false, true}) {
    Loader checked(DatasetOptions{.files = {file}, .check_finite = true}, {.batch_size = 4, .shuffle = shuffle});
    expect_error(
        [&] {
          while (checked.next()) {
          }
        },
        {"row 6 of dataset 'x' in file '" + file + "'", "nan", "data.check_finite"});
  }
}

TEST(LoaderErrors, PinMemoryNeedsAnAcceleratorDevice) {
  expect_error([&] { Loader(DatasetOptions{.files = {h5_files()["sets"]["u8_images"]["files"][0]}}, {.pin_memory = true}); },
               {"pin_memory needs an accelerator device", "LoaderOptions::device is cpu"});
}

}  // namespace
}  // namespace tessera::io
