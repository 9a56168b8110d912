#pragma once
// The converters' progress: on a terminal a bar redrawn in place on stderr ("decoding images [=====>....] 512/2000
// 3.1s"), elsewhere (a log file, CI, under mpirun) one line when the step ends, so logs stay short.
#include <chrono>
#include <cstdint>
#include <string>

namespace tessera::io {

class Progress {
 public:
  Progress(std::string what, int64_t total);
  ~Progress();  // ends the line (also when the step failed half way)
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  void advance(int64_t done = 1);

 private:
  void draw(bool last);
  std::string what_;
  int64_t total_ = 0, done_ = 0;
  bool in_place_ = false;
  std::chrono::steady_clock::time_point start_, last_draw_;
};

}  // namespace tessera::io
