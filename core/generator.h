#pragma once
// Seeded random number generator. Deterministic across platforms (own uniform/normal transforms over
// mt19937_64, not std::*_distribution), and its state can be saved into a checkpoint.
#include <cstdint>
#include <random>
#include <string>

namespace tessera {

class Generator {
 public:
  explicit Generator(uint64_t seed = 67280421310721ULL) { manual_seed(seed); }
  void manual_seed(uint64_t seed);
  uint64_t seed() const { return seed_; }
  uint64_t next_u64() { return engine_(); }
  double uniform();   // [0, 1), 53 random bits
  float uniform_f();  // [0, 1), 24 random bits
  double normal();    // N(0, 1), Box-Muller with a cached second value
  std::string get_state() const;
  void set_state(const std::string& state);

 private:
  uint64_t seed_ = 0;
  std::mt19937_64 engine_;
  bool has_cached_normal_ = false;
  double cached_normal_ = 0.0;
};

Generator& default_generator();
void manual_seed(uint64_t seed);  // seeds the default generator

}  // namespace tessera
