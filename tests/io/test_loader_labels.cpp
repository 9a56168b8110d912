// Class labels (issue 14, item 11): a float label such as 3.5 used to be truncated to 3, and a label outside the
// classes was only found by the loss (naming no file; a test set's after a whole training epoch). Now every row of
// a label array is checked when the dataset is opened, and the error names the file, the dataset and the row.
// Files by h5py (make_h5_files.py): ten labels 0..3 each, one bad value at a known row. Also: a numeric array as
// the 'classes' attribute (np.arange(4096) overflowed the stack, np.arange(5) gave a wrong message), and a u64 label
// of 2**64 - 1 (it passed the check and failed inside the loss as -1).
#include <gtest/gtest.h>

#include "tests/io/h5_files.h"
#include "tests/support/test_prelude.h"

namespace tessera::io {
namespace {

using testing::h5_files;

std::string file(const std::string& name) { return h5_files()["bad"]["labels_" + name].get<std::string>(); }

DatasetOptions with_y(const std::string& path, DType dtype = DType::i64, std::optional<LabelSpec> labels = {}) {
  return {.files = {path}, .arrays = {{.name = "x"}, {.name = "y", .dtype = dtype, .labels = labels}}};
}

// What Model::fit reads: LoaderBatchSource marks its integer y as class labels.
void open_source(const std::string& path) { LoaderBatchSource source(with_y(path), {.batch_size = 4}); }

std::string row_of(int64_t row, const std::string& path) {
  return "row " + std::to_string(row) + " of dataset 'y' in file '" + path + "'";
}

TEST(LoaderLabels, FloatLabelIsAnErrorNotTruncated) {
  expect_error([] { open_source(file("float")); },
               {row_of(4, file("float")), "holds the class label 3.5", "class labels must be whole numbers"});
  // Without the labels mark (a plain integer array), a float still converts as before: truncated toward zero.
  Loader plain(with_y(file("float")), {.batch_size = 10, .shuffle = false});
  EXPECT_EQ((*plain.next())["y"].to_vector<int64_t>()[4], 3);
}

TEST(LoaderLabels, OutOfRangeNamesFileAndRow) {
  // The class count from y's `classes` attribute: a number, or the class names separated by commas.
  expect_error([] { open_source(file("above_attribute")); },
               {row_of(7, file("above_attribute")), "the class label 10, outside [0, 10)", "'classes' attribute"});
  expect_error([] { open_source(file("above_names")); },
               {row_of(5, file("above_names")), "holds the class label 4, outside [0, 4) (its 'classes' attribute)"});
  // Or from the spec, which wins over the attribute; without either, negative labels are still out of range.
  expect_error([] { ShardedDataset(with_y(file("good"), DType::i64, LabelSpec{.classes = 3})); },
               {row_of(3, file("good")) + " holds the class label 3, outside [0, 3) (the classes asked for)"});
  const ArraySpec scaled{.name = "y", .scale = 2, .labels = LabelSpec{}};
  expect_error([&] { ShardedDataset({.files = {file("good")}, .arrays = {scaled}}); },
               "dataset 'y': class labels are checked as stored, so they take no scale, mean or std");
  expect_error([] { open_source(file("bad_attribute")); },
               {"dataset 'y' of file '" + file("bad_attribute") + "': its 'classes' attribute must be"});
  expect_error([] { open_source(file("negative")); },
               {row_of(2, file("negative")), "holds the class label -3, outside >= 0", "ignore_index -100"});
}

TEST(LoaderLabels, ClassesAttributeHoldingAnArrayIsOneError) {
  for (const auto& [name, count] : {std::pair{"classes_array", 5}, {"classes_array_big", 4096}}) {
    expect_error([&] { open_source(file(name)); },
                 {"dataset 'y' of file '" + file(name) + "': its 'classes' attribute must be the class count",
                  "holds " + std::to_string(count) + " values"});
  }
}

TEST(LoaderLabels, U64LabelBeyondI64IsAnErrorAtOpen) {
  // No 'classes' attribute, so only ">= 0" applied, and the loader's i64 made -1 of it.
  expect_error([] { open_source(file("u64_max")); },
               {row_of(3, file("u64_max")) + " holds the class label 1.84467e+19, outside [0, 2^63)"});
}

TEST(LoaderLabels, WholeLabelsInRangeAndIgnoreIndexPass) {
  LoaderBatchSource source(with_y(file("good")), {.batch_size = 10, .shuffle = false});
  const auto batch = source.next();
  ASSERT_TRUE(batch.has_value());
  EXPECT_EQ(batch->y.to_vector<int64_t>(), (std::vector<int64_t>{0, -100, 2, 3, 0, 1, 2, 3, -100, 1}));
  // A floating y (an mse target) is not a class label: 3.5 stays 3.5.
  LoaderBatchSource regression(with_y(file("float"), DType::f32), {.batch_size = 10, .shuffle = false});
  EXPECT_EQ(regression.next()->y.to_vector<float>()[4], 3.5f);
}

TEST(LoaderLabels, ClassCountKnownLaterNamesFileAndRow) {
  // The model's number of outputs is known only once it is built on the data: checked against the largest label
  // each shard held when it was opened, naming the shard and the row.
  LoaderBatchSource source({.files = {file("good"), file("above_model")}}, {.batch_size = 4});
  source.check_labels_below(10, "the model's 10 outputs");
  expect_error([&] { source.check_labels_below(4, "the model's 4 outputs"); },
               {row_of(6, file("above_model")) + " holds the class label 9, outside [0, 4) (the model's 4 outputs)"});
  // The first shard's largest label, 3 (rows 3 and 7; ignore_index -100 is no class), is named before later ones.
  expect_error([&] { source.check_labels_below(3, "the model's 3 outputs"); },
               {row_of(3, file("good")) + " holds the class label 3, outside [0, 3)"});
  // Only labels were checked when opened: another array cannot be checked afterwards.
  const ShardedDataset floats({.files = {file("good")}, .arrays = {{.name = "x"}}});
  expect_error([&] { floats.check_labels_below(0, 4, "4 classes"); }, "dataset 'x' is not read as class labels");
}

TEST(LoaderLabels, TestSetIsCheckedBeforeAnyBatch) {
  // An evaluation source fails when it is made (before fit trains an epoch), not when its first batch is read.
  const LoaderOptions evaluation{.batch_size = 4, .shuffle = false, .evaluation = true};
  expect_error([&] { LoaderBatchSource(with_y(file("above_attribute")), evaluation); },
               {row_of(7, file("above_attribute"))});
}

}  // namespace
}  // namespace tessera::io
