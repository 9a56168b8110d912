// Philox 4x32-10 against Random123's published known-answer vectors, and the stream layout fills rely on.
#include <gtest/gtest.h>

#include <array>

#include "kernels/philox.h"

namespace tessera::kernels {
namespace {

std::array<uint32_t, 4> block(std::array<uint32_t, 4> counter, std::array<uint32_t, 2> key) {
  std::array<uint32_t, 4> out{};
  philox4x32_10(counter.data(), key.data(), out.data());
  return out;
}

TEST(Philox, Random123KnownAnswers) {
  EXPECT_EQ(block({0, 0, 0, 0}, {0, 0}), (std::array<uint32_t, 4>{0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}));
  EXPECT_EQ(block({0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff}, {0xffffffff, 0xffffffff}),
            (std::array<uint32_t, 4>{0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}));
  EXPECT_EQ(block({0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344}, {0xa4093822, 0x299f31d0}),
            (std::array<uint32_t, 4>{0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}));
}

TEST(Philox, StreamWordsAreTheBlocksInOrder) {
  const uint64_t seed = 0x0123456789abcdefULL;
  for (uint64_t b : {0ULL, 1ULL, 7ULL, (1ULL << 32) + 3}) {
    const auto expected = block({static_cast<uint32_t>(b), static_cast<uint32_t>(b >> 32), 0, 0},
                                {static_cast<uint32_t>(seed), static_cast<uint32_t>(seed >> 32)});
    for (uint64_t k = 0; k < 4; ++k) EXPECT_EQ(philox_word(seed, 4 * b + k), expected[k]) << "block " << b;
  }
}

TEST(Philox, UniformsCoverTheUnitInterval) {
  EXPECT_EQ(uniform_from_word(0), 0.0f);
  EXPECT_LT(uniform_from_word(0xffffffffu), 1.0f);
  EXPECT_EQ(uniform_from_words(0, 0), 0.0);
  EXPECT_LT(uniform_from_words(0xffffffffu, 0xffffffffu), 1.0);
  EXPECT_EQ(uniform_from_words(0x80000000u, 0), 0.5);
}

}  // namespace
}  // namespace tessera::kernels
