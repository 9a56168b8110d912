// inspect_file on files written by h5py: shape, element type, layout, chunk shape and filters as h5py wrote them
// (make_h5_files.py: contiguous f64 shards; chunks (7, 3, 2) with shuffle + gzip level 4; a nested dataset); strings
// and compounds described, not fatal; datasets behind external links listed (tests/launch/data_hdf5_inputs.sh runs
// `tessera data inspect` on such files).
#include <gtest/gtest.h>

#include "io/hdf5/file.h"
#include "tests/io/h5_files.h"
#include "tests/support/test_prelude.h"

namespace tessera::io {
namespace {

const DatasetSummary& find(const FileSummary& summary, const std::string& name) {
  for (const auto& d : summary.datasets)
    if (d.name == name) return d;
  throw std::runtime_error("no dataset " + name + " in " + summary.path);
}

TEST(Inspect, ReportsWhatH5pyWrote) {
  const FileSummary contiguous = inspect_file(testing::set_files("f64_contiguous")[1]);
  EXPECT_EQ(find(contiguous, "x").shape, (Shape{17, 3, 2}));
  EXPECT_EQ(find(contiguous, "x").element_type, "f64");
  EXPECT_EQ(find(contiguous, "x").layout, "contiguous");
  EXPECT_TRUE(find(contiguous, "x").filters.empty());
  EXPECT_EQ(find(contiguous, "y").element_type, "i32");
  EXPECT_EQ(find(contiguous, "meta/ids").element_type, "i64");
  EXPECT_EQ(find(contiguous, "extra").element_type, "f32");

  const FileSummary chunked = inspect_file(testing::set_files("f64_chunked")[0]);
  const DatasetSummary& x = find(chunked, "x");
  EXPECT_EQ(x.layout, "chunked");
  EXPECT_EQ(x.chunk, (Shape{7, 3, 2}));
  ASSERT_EQ(x.filters.size(), 2u);  // h5py puts shuffle before deflate
  EXPECT_EQ(x.filters[0].name, "shuffle");
  EXPECT_EQ(x.filters[1].name, "gzip");
  EXPECT_EQ(x.filters[1].values, (std::vector<unsigned>{4}));
  EXPECT_NE(format_summary(chunked).find("x  shape [40, 3, 2]  f64  chunked [7, 3, 2]  filters shuffle,gzip(4)"),
            std::string::npos)
      << format_summary(chunked);
}

TEST(Inspect, DescribesStringAndCompoundDatasets) {
  // The first non-numeric dataset ended inspect_file with an error, so none after it was listed either.
  const FileSummary summary = inspect_file(testing::h5_files()["bad"]["text_labels"].get<std::string>());
  ASSERT_EQ(summary.datasets.size(), 4u) << format_summary(summary);
  EXPECT_EQ(find(summary, "names").element_type, "variable-length string");
  EXPECT_EQ(find(summary, "table").element_type, "compound (12 bytes)");
  EXPECT_EQ(find(summary, "x").element_type, "f64");
  EXPECT_EQ(find(summary, "x").shape, (Shape{10, 4}));
  EXPECT_EQ(find(summary, "y").element_type, "string (3 bytes)");
  EXPECT_EQ(find(summary, "y").shape, (Shape{10}));
}

TEST(Inspect, DescribesAFloatTypeItCannotRead) {
  // A 1-byte float (FP8): describing it recursed until the stack overflowed, in inspect and in the loader's error.
  const std::string path = testing::h5_files()["bad"]["fp8"].get<std::string>();
  const FileSummary summary = inspect_file(path);
  EXPECT_EQ(find(summary, "x").element_type, "float (1 byte)") << format_summary(summary);
  expect_error([&] { h5::File::open_read_only(path).open_dataset("x"); }, {"dataset 'x'", "float (1 byte)"});
}

TEST(Inspect, ListsDatasetsBehindExternalLinks) {
  // x and y are h5py.ExternalLinks into external_target.h5 (data/x, data/y): they were not listed at all.
  const FileSummary summary = inspect_file(testing::h5_files()["bad"]["external_link"].get<std::string>());
  ASSERT_EQ(summary.datasets.size(), 2u) << format_summary(summary);
  EXPECT_EQ(find(summary, "x").shape, (Shape{10, 4}));
  EXPECT_EQ(find(summary, "x").element_type, "f64");
  EXPECT_EQ(find(summary, "y").element_type, "i64");
}

TEST(Inspect, NamesTheFileItCannotRead) {
  expect_error([] { inspect_file(testing::h5_files()["bad"]["not_hdf5"].get<std::string>()); }, "is not an HDF5 file");
}

}  // namespace
}  // namespace tessera::io
