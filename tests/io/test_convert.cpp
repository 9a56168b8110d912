// The converters' pure parts, against values worked out by hand: split_rows (a seeded shuffled train/test split),
// parse_npy (NumPy's header: byte order, versions, bad files), resize_bilinear (half-pixel centres, as torch's
// interpolate(align_corners=False)), and RowConverter's channels-last transpose with per-channel mean/std. The
// converters end to end are checked against NumPy, pandas and Pillow by tests/launch/data_from_*.sh.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <numeric>

#include "io/convert/bilinear_resize.h"
#include "io/convert/npy.h"
#include "io/convert/shard_writer.h"
#include "io/row_converter.h"
#include "tests/support/test_prelude.h"

namespace tessera::io {
namespace {

TEST(ConvertPlanning, SplitRowsIsASeededPartition) {
  const SplitRows split = split_rows(103, {.test_fraction = 0.25, .seed = 3});
  EXPECT_EQ(split.test.size(), 26u);  // round(103 * 0.25)
  EXPECT_EQ(split.train.size(), 77u);
  EXPECT_TRUE(std::is_sorted(split.train.begin(), split.train.end()));
  EXPECT_TRUE(std::is_sorted(split.test.begin(), split.test.end()));
  std::vector<int64_t> all = split.train;
  all.insert(all.end(), split.test.begin(), split.test.end());
  std::sort(all.begin(), all.end());
  std::vector<int64_t> expected(103);
  std::iota(expected.begin(), expected.end(), 0);
  EXPECT_EQ(all, expected);
  EXPECT_EQ(split_rows(103, {.test_fraction = 0.25, .seed = 3}).test, split.test);
  EXPECT_NE(split_rows(103, {.test_fraction = 0.25, .seed = 4}).test, split.test);
  EXPECT_EQ(split_rows(5, {}).train.size(), 5u);
  expect_error([] { split_rows(10, {.test_fraction = 1.0}); }, "--test-fraction must be in [0, 1), got 1");
  expect_error([] { split_rows(3, {.test_fraction = 0.1}); },
               "--test-fraction 0.1 of 3 samples leaves 0 for test and 3 for train; each split needs at least one");
}

std::string npy(const std::string& header, const std::string& data, int major = 1) {
  std::string bytes = "\x93NUMPY";
  bytes += static_cast<char>(major);
  bytes += '\0';
  const size_t length = header.size();
  for (int i = 0; i < (major == 1 ? 2 : 4); ++i) bytes += static_cast<char>((length >> (8 * i)) & 0xff);
  return bytes + header + data;
}

TEST(ConvertPlanning, ParsesNpyHeadersAndByteOrders) {
  const int32_t little[] = {1, -2, 3, 4, 5, 6};
  const RowArray a = parse_npy(npy("{'descr': '<i4', 'fortran_order': False, 'shape': (2, 3), }\n",
                                   std::string(reinterpret_cast<const char*>(little), sizeof(little))),
                               "a.npy");
  EXPECT_EQ(a.type, h5::ElementType::i32);
  EXPECT_EQ(a.shape, (Shape{2, 3}));
  EXPECT_EQ(std::memcmp(a.bytes.data(), little, sizeof(little)), 0);
  const RowArray b = parse_npy(
      npy("{'descr': '>u2', 'fortran_order': False, 'shape': (2,), }\n", std::string("\x01\x02\xff\x00", 4), 2),
      "b.npy");
  EXPECT_EQ(b.type, h5::ElementType::u16);
  EXPECT_EQ(b.shape, (Shape{2}));
  const uint16_t* values = reinterpret_cast<const uint16_t*>(b.bytes.data());
  EXPECT_EQ(values[0], 0x0102);
  EXPECT_EQ(values[1], 0xff00);
  const RowArray flags = parse_npy(
      npy("{'descr': '|b1', 'fortran_order': False, 'shape': (3,), }\n", std::string("\x01\x00\x01", 3)), "f.npy");
  EXPECT_EQ(flags.type, h5::ElementType::u8);
  expect_error([] { parse_npy("PK\x03\x04 not npy", "z.npy"); }, "'z.npy' is not a .npy file");
  expect_error(
      [] {
        parse_npy(npy("{'descr': '<f8', 'fortran_order': True, 'shape': (2, 2), }\n", std::string(32, '\0')), "t.npy");
      },
      "'t.npy' is stored in Fortran order");
  expect_error(
      [] {
        parse_npy(npy("{'descr': '<U3', 'fortran_order': False, 'shape': (1,), }\n", std::string(12, '\0')), "s.npy");
      },
      "'s.npy' holds elements of NumPy type '<U3'");
  expect_error(
      [] {
        parse_npy(npy("{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }\n", std::string(12, '\0')),
                  "short.npy");
      },
      "'short.npy' holds 12 bytes of data but its header (<f4, shape [4]) says 16");
  // A corrupt header: a negative dimension, or a product past int64 (it wrapped to a size the data check accepted,
  // and the rows it claimed were read past the data), or a file ending inside the header length.
  for (const char* shape : {"(-4, 2)", "(4294967296, 4294967296, 4)"}) {
    expect_error(
        [&] {
          parse_npy(npy(std::string("{'descr': '<f4', 'fortran_order': False, 'shape': ") + shape + ", }\n",
                        std::string(32, '\0')),
                    "bad.npy");
        },
        "'bad.npy': the shape");
  }
  expect_error([] { parse_npy(std::string("\x93NUMPY\x02\x00\x10\x00\x00", 11), "cut.npy"); },
               "'cut.npy' ends inside its .npy header");
}

TEST(ConvertPlanning, BilinearResizeUsesHalfPixelCentres) {
  // One row [0, 100] widened to 4: sources -0.25 (clamped to 0), 0.25, 0.75, 1.25 (clamped to 1).
  EXPECT_EQ(resize_bilinear({0, 100}, 1, 2, 1, 1, 4), (std::vector<uint8_t>{0, 25, 75, 100}));
  // Halving averages each pair (source 0.5, 2.5), per channel of interleaved pixels.
  EXPECT_EQ(resize_bilinear({0, 10, 100, 20, 50, 30, 200, 40}, 1, 4, 2, 1, 2), (std::vector<uint8_t>{50, 15, 125, 35}));
  const std::vector<uint8_t> same = {1, 2, 3, 4, 5, 6};
  EXPECT_EQ(resize_bilinear(same, 2, 3, 1, 2, 3), same);
}

TEST(ConvertPlanning, RowConverterTransposesChannelsLast) {
  // One stored row (H=2, W=2, C=3), channel c of pixel p = 10 * p + c.
  std::vector<uint8_t> stored(12);
  for (int p = 0; p < 4; ++p)
    for (int c = 0; c < 3; ++c) stored[static_cast<size_t>(p * 3 + c)] = static_cast<uint8_t>(10 * p + c);
  const ArraySpec spec{.name = "x", .scale = 0.5, .mean = {1, 2, 3}, .std = {2, 4, 8}};
  const RowConverter converter(spec, {2, 2, 3}, ImageLayout::nhwc);
  EXPECT_FALSE(converter.passes_through(h5::ElementType::u8));
  std::vector<float> out(24, -1);
  converter.convert(h5::ElementType::u8, stored.data(), out.data(), {{0, 1}});  // into the second batch row
  for (int c = 0; c < 3; ++c) {
    for (int p = 0; p < 4; ++p) {
      const float expected = static_cast<float>((0.5 * (10 * p + c) - spec.mean[c]) / spec.std[c]);
      EXPECT_FLOAT_EQ(out[static_cast<size_t>(12 + c * 4 + p)], expected) << "channel " << c << " pixel " << p;
    }
  }
  EXPECT_EQ(out[0], -1);  // the first batch row untouched
}

}  // namespace
}  // namespace tessera::io
