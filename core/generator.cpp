#include "core/generator.h"

#include <cmath>
#include <sstream>

#include "core/check.h"
#include "core/graph.h"
#include "kernels/philox.h"

namespace tessera {

void Generator::manual_seed(uint64_t seed) {
  seed_ = seed;
  offset_ = 0;
}

uint64_t Generator::take(uint64_t words) {
  const uint64_t first = offset_;
  offset_ += words;
  return first;
}

void Generator::reserve_fill(kernels::RandomArgs& args, uint64_t words, Device device) {
  if (DeviceGraph* graph = DeviceGraph::capturing(); graph != nullptr && graph->device() == device) {
    graph->place_fill(*this, args, words);
    return;
  }
  args.seed = seed_;
  args.offset = take(words);
  args.offset_base = nullptr;
}

uint32_t Generator::next_u32() {
  // A host draw would be taken once, at capture, and every replay would reuse it.
  TESSERA_CHECK(DeviceGraph::capturing() == nullptr, "a host random draw (shuffle, random scalar) inside a graph "
                "capture: its value would be frozen into every replay; draw it outside the captured step");
  return kernels::philox_word(seed_, offset_++);
}

uint64_t Generator::next_u64() {
  const uint64_t hi = next_u32();
  return (hi << 32) | next_u32();
}

double Generator::uniform() {
  const uint32_t hi = next_u32();
  return kernels::uniform_from_words(hi, next_u32());
}

float Generator::uniform_f() { return kernels::uniform_from_word(next_u32()); }

double Generator::normal() {
  const double u1 = 1.0 - uniform();  // (0, 1]: the log is finite
  const double u2 = uniform();
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * M_PI * u2);
}

std::string Generator::get_state() const {
  std::ostringstream out;
  out << "philox " << seed_ << ' ' << offset_;
  return out.str();
}

void Generator::set_state(const std::string& state) {
  std::istringstream in(state);
  std::string kind;
  uint64_t seed = 0, offset = 0;
  in >> kind >> seed >> offset;
  TESSERA_CHECK(!in.fail() && kind == "philox", "Generator::set_state: expected \"philox <seed> <offset>\", got \"",
                state.substr(0, 64), "\" (a checkpoint from before Tessera's Philox generator?)");
  seed_ = seed;
  offset_ = offset;
}

Generator& default_generator() {
  static Generator generator;
  return generator;
}

void manual_seed(uint64_t seed) { default_generator().manual_seed(seed); }

}  // namespace tessera
