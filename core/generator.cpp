#include "core/generator.h"

#include <cmath>
#include <sstream>

#include "core/check.h"

namespace tessera {

void Generator::manual_seed(uint64_t seed) {
  seed_ = seed;
  engine_.seed(seed);
  has_cached_normal_ = false;
}

double Generator::uniform() { return static_cast<double>(engine_() >> 11) * 0x1.0p-53; }

float Generator::uniform_f() { return static_cast<float>(engine_() >> 40) * 0x1.0p-24f; }

double Generator::normal() {
  if (has_cached_normal_) {
    has_cached_normal_ = false;
    return cached_normal_;
  }
  const double u1 = 1.0 - uniform();  // (0, 1]: log is finite
  const double u2 = uniform();
  const double radius = std::sqrt(-2.0 * std::log(u1));
  cached_normal_ = radius * std::sin(2.0 * M_PI * u2);
  has_cached_normal_ = true;
  return radius * std::cos(2.0 * M_PI * u2);
}

std::string Generator::get_state() const {
  std::ostringstream out;
  out.precision(17);
  out << seed_ << ' ' << has_cached_normal_ << ' ' << cached_normal_ << ' ' << engine_;
  return out.str();
}

void Generator::set_state(const std::string& state) {
  std::istringstream in(state);
  in >> seed_ >> has_cached_normal_ >> cached_normal_ >> engine_;
  TESSERA_CHECK(!in.fail(), "Generator::set_state: malformed state string");
}

Generator& default_generator() {
  static Generator generator;
  return generator;
}

void manual_seed(uint64_t seed) { default_generator().manual_seed(seed); }

}  // namespace tessera
