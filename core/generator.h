#pragma once
// Seeded random number generator: Philox 4x32-10 (kernels/philox.h), counter-based, so its whole state is
// (seed, offset) and the same seed and offset give the same numbers on the host and on every device. Host draws
// (shuffles, a scalar; never inside a graph capture) take words one after another; a fill of n elements on a
// device reserves its words with reserve_fill (n * W words) and the backend computes each element from its own
// counter. A checkpoint saves get_state().
#include <cstdint>
#include <string>

#include "core/device.h"
#include "kernels/philox.h"

namespace tessera {

class Generator {
 public:
  explicit Generator(uint64_t seed = 67280421310721ULL) { manual_seed(seed); }
  void manual_seed(uint64_t seed);
  uint64_t seed() const { return seed_; }
  uint64_t offset() const { return offset_; }
  // Reserves the next `words` words of the stream for a device fill; returns the first one's index.
  uint64_t take(uint64_t words);
  // Sets args.seed and args.offset for a fill of `words` words on `device`, reserved now. While a graph of that
  // device is being captured (core/graph.h), the offset is relative to a base the graph keeps in device memory
  // and moves on at each replay, so each replay draws what the same eager step would.
  void reserve_fill(kernels::RandomArgs& args, uint64_t words, Device device);
  void set_offset(uint64_t offset) { offset_ = offset; }
  uint32_t next_u32();
  uint64_t next_u64();  // two words
  double uniform();     // [0, 1), 53 random bits (two words)
  float uniform_f();    // [0, 1), 24 random bits (one word)
  double normal();      // N(0, 1), Box-Muller (four words)
  std::string get_state() const;  // "philox <seed> <offset>"
  void set_state(const std::string& state);

 private:
  uint64_t seed_ = 0;
  uint64_t offset_ = 0;
};

Generator& default_generator();
void manual_seed(uint64_t seed);  // seeds the default generator

}  // namespace tessera
