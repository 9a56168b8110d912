// SummaryWriter's files read back by TensorBoard's own reader (tests/readers/tfevents.py in the test venv), which
// checks every record's CRC32C framing and parses the Event protobufs: tags, steps, values and wall times must
// come back as written. A corrupted byte must be caught by that reader, so the check is not vacuous.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "io/tensorboard/record_writer.h"
#include "io/tensorboard/summary_writer.h"
#include "tests/support/expect_error.h"
#include "tests/support/torch_ref.h"

using namespace tessera;
namespace fs = std::filesystem;

namespace {

nlohmann::json read_with_tensorboard(const std::string& path) {
  return tessera::testing::run_python_script(TESSERA_TEST_VENV_PYTHON, "tests/readers/tfevents.py", {{"path", path}});
}

fs::path fresh_dir(const std::string& name) {
  const fs::path dir = fs::temp_directory_path() / ("tessera_tb_" + name + "_" + std::to_string(getpid()));
  fs::remove_all(dir);
  return dir;
}

}  // namespace

TEST(TensorBoardWriter, Crc32cMatchesPublishedCheckValue) {
  // CRC-32C("123456789") = 0xE3069283 (the standard check value); the mask is TFRecord's rotate-and-add.
  const uint32_t crc = 0xE3069283u;
  EXPECT_EQ(io::tensorboard::masked_crc32c("123456789"), ((crc >> 15) | (crc << 17)) + 0xa282ead8u);
}

TEST(TensorBoardWriter, ScalarsReadBackByTensorBoard) {
  const fs::path dir = fresh_dir("scalars");
  std::string path;
  {
    io::SummaryWriter writer(dir.string(), {.filename_suffix = ".test", .flush_every = 3});
    path = writer.path();
    for (int64_t step = 0; step < 50; ++step) {
      writer.add_scalar("train/loss", 2.5 / (1.0 + step), step, 1.7e9 + step);
      if (step % 10 == 0) writer.add_scalar("train/learning_rate", 1e-3 * step, step, 1.7e9 + step);
    }
    writer.add_scalar("negative/step", -4.25, -3, 1.7e9);
    writer.add_scalar("huge/step", 1e30, int64_t(1) << 40, 1.7e9);
  }
  EXPECT_EQ(fs::path(path).parent_path(), dir);
  EXPECT_EQ(fs::path(path).filename().string().rfind("events.out.tfevents.", 0), 0u);

  const nlohmann::json read = read_with_tensorboard(path);
  EXPECT_EQ(read["file_version"], "brain.Event:2");
  EXPECT_EQ(read["records"], 1 + 50 + 5 + 2);
  const auto& loss = read["scalars"]["train/loss"];
  ASSERT_EQ(loss.size(), 50u);
  for (int64_t step = 0; step < 50; ++step) {
    EXPECT_EQ(loss[step][0].get<int64_t>(), step);
    EXPECT_FLOAT_EQ(loss[step][1].get<float>(), static_cast<float>(2.5 / (1.0 + step)));
    EXPECT_DOUBLE_EQ(loss[step][2].get<double>(), 1.7e9 + step);
  }
  const auto& lr = read["scalars"]["train/learning_rate"];
  ASSERT_EQ(lr.size(), 5u);
  EXPECT_EQ(lr[4][0].get<int64_t>(), 40);
  EXPECT_FLOAT_EQ(lr[4][1].get<float>(), 0.04f);
  EXPECT_EQ(read["scalars"]["negative/step"][0][0].get<int64_t>(), -3);
  EXPECT_FLOAT_EQ(read["scalars"]["negative/step"][0][1].get<float>(), -4.25f);
  EXPECT_EQ(read["scalars"]["huge/step"][0][0].get<int64_t>(), int64_t(1) << 40);
  fs::remove_all(dir);
}

// Histograms (TensorBoard's Histograms tab) and text (its Text tab, as torch's add_text writes it).
TEST(TensorBoardWriter, HistogramsAndTextReadBackByTensorBoard) {
  const fs::path dir = fresh_dir("histograms");
  std::vector<double> values;
  for (int i = 0; i < 100; ++i) values.push_back(i);  // 10 equal buckets of 9.9: 10 values each
  std::string path;
  {
    io::SummaryWriter writer(dir.string());
    path = writer.path();
    writer.add_histogram("weights/fc.weight", values, 7, 10, 1.7e9);
    writer.add_histogram("constant", {2.5, 2.5, 2.5}, 8, 10, 1.7e9);
    writer.add_text("config", "```json\n{\"lr\": 0.1}\n```", 0, 1.7e9);
    writer.add_scalar("loss", 1.5, 7, 1.7e9);
    tessera::testing::expect_error([&] { writer.add_histogram("empty", {}, 9); }, "no values for 'empty'");
  }
  const nlohmann::json read = read_with_tensorboard(path);
  ASSERT_EQ(read["histograms"]["weights/fc.weight"].size(), 1u);
  const auto& step_and_histogram = read["histograms"]["weights/fc.weight"][0];
  EXPECT_EQ(step_and_histogram[0], 7);
  const auto& h = step_and_histogram[1];
  EXPECT_EQ(h["min"], 0.0);
  EXPECT_EQ(h["max"], 99.0);
  EXPECT_EQ(h["num"], 100.0);
  EXPECT_EQ(h["sum"], 4950.0);
  EXPECT_EQ(h["sum_squares"], 328350.0);
  EXPECT_EQ(h["bucket"], std::vector<double>(10, 10.0));
  ASSERT_EQ(h["bucket_limit"].size(), 10u);
  EXPECT_DOUBLE_EQ(h["bucket_limit"][0].get<double>(), 9.9);
  EXPECT_EQ(h["bucket_limit"][9], 99.0);
  const auto& constant = read["histograms"]["constant"][0][1];
  EXPECT_EQ(constant["bucket"], std::vector<double>{3.0}) << "one bucket when every value is the same";
  EXPECT_EQ(read["texts"]["config"][0][1], std::vector<std::string>{"```json\n{\"lr\": 0.1}\n```"});
  EXPECT_EQ(read["scalars"].size(), 1u) << "histograms and text are not scalars";
  fs::remove_all(dir);
}

// A resumed run's file starts a session at its first step (purge_step, as torch's SummaryWriter): TensorBoard then
// shows the interrupted run's events before that step and the resumed run's from it, each step once. Without the
// marker it shows both runs' events of the steps trained twice. Written in the same second by the same process, the
// second file still gets a name that sorts after the first (TensorBoard's reading order), not the same name.
TEST(TensorBoardWriter, PurgeStepHidesAnEarlierFilesLaterSteps) {
  const fs::path dir = fresh_dir("purge");
  {
    io::SummaryWriter first(dir.string(), {.purge_step = 1});
    for (int64_t step = 1; step <= 6; ++step) first.add_scalar("loss", 10.0 + step, step, 1.7e9 + step);
  }
  {
    io::SummaryWriter resumed(dir.string(), {.purge_step = 4});
    for (int64_t step = 4; step <= 7; ++step) resumed.add_scalar("loss", 20.0 + step, step, 1.8e9 + step);
  }
  const nlohmann::json read = tessera::testing::run_python_script(TESSERA_TEST_VENV_PYTHON, "tests/readers/tfevents.py",
                                                                  {{"logdir", dir.string()}});
  EXPECT_EQ(std::distance(fs::directory_iterator(dir), fs::directory_iterator()), 2);
  const std::vector<std::vector<double>> expected = {{1, 11}, {2, 12}, {3, 13}, {4, 24}, {5, 25}, {6, 26}, {7, 27}};
  EXPECT_EQ(read["scalars"]["loss"].get<std::vector<std::vector<double>>>(), expected);
  fs::remove_all(dir);
}

TEST(TensorBoardWriter, CorruptedRecordIsRejectedByTensorBoard) {
  const fs::path dir = fresh_dir("corrupt");
  std::string path;
  {
    io::SummaryWriter writer(dir.string());
    path = writer.path();
    writer.add_scalar("loss", 1.0, 1);
  }
  const auto size = fs::file_size(path);
  {
    std::fstream file(path, std::ios::in | std::ios::out | std::ios::binary);
    file.seekp(static_cast<std::streamoff>(size) - 6);  // inside the last record's payload
    file.put('\x7f');
  }
  tessera::testing::expect_error([&] { read_with_tensorboard(path); }, {"DataLossError"});  // its own CRC check
  fs::remove_all(dir);
}

TEST(TensorBoardWriter, UnwritableDirectoryNamesThePath) {
  try {
    io::SummaryWriter writer("/proc/tessera_cannot_write_here");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(e.message().find("/proc/tessera_cannot_write_here"), std::string::npos) << e.message();
  }
}
