#include "io/convert/progress.h"

#include <algorithm>
#include <cstdio>

#include "core/model/callbacks.h"

namespace tessera::io {

Progress::Progress(std::string what, int64_t total)
    : what_(std::move(what)),
      total_(total),
      in_place_(model::redraws_in_place(stderr)),
      start_(std::chrono::steady_clock::now()),
      last_draw_(start_) {}

Progress::~Progress() { draw(true); }

void Progress::advance(int64_t done) {
  done_ = std::min(total_, done_ + done);
  const auto now = std::chrono::steady_clock::now();
  if (in_place_ && done_ < total_ && now - last_draw_ > std::chrono::milliseconds(100)) {  // ten redraws a second
    last_draw_ = now;
    draw(false);
  }
}

void Progress::draw(bool last) {
  if (last && !in_place_ && done_ == 0 && total_ > 0) return;  // failed before anything was done: the error says it
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const int width = 30;
  const int filled = total_ > 0 ? static_cast<int>(width * done_ / total_) : width;
  std::string bar(static_cast<size_t>(filled), '=');
  if (filled < width) bar += '>' + std::string(static_cast<size_t>(width - filled - 1), '.');
  std::fprintf(stderr, "%s%s [%s] %lld/%lld %.1fs%s", in_place_ ? "\r" : "", what_.c_str(), bar.c_str(),
               static_cast<long long>(done_), static_cast<long long>(total_), seconds, last ? "\n" : "   ");
  std::fflush(stderr);
}

}  // namespace tessera::io
