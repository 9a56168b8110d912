// Comparing the model across ranks (see model_fingerprint.h). Only all-reduces are used: max over [x, -x] gives
// both the maximum and the minimum of x at once (they differ exactly when some rank differs), and a sum over rows
// that only their own rank fills is a gather.
#include "distributed/model_fingerprint.h"

#include <algorithm>
#include <cstring>
#include <sstream>

#include "core/check.h"
#include "core/ops/factory.h"

namespace tessera::dist {

namespace {

constexpr int64_t kAbsent = -1;            // hash of an entry a rank does not have (real hashes are >= 0)
constexpr int64_t kDescriptionBytes = 512;  // per rank in the exchange of the first differing entry

// FNV-1a, kept to 62 bits so that it and its negation fit an int64.
int64_t hash_entry(const std::string& text) {
  uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : text) h = (h ^ c) * 1099511628211ULL;
  return static_cast<int64_t>(h >> 2);
}

// values -> {max over ranks, min over ranks}, elementwise.
std::pair<std::vector<int64_t>, std::vector<int64_t>> max_and_min(Communicator& comm,
                                                                   const std::vector<int64_t>& values,
                                                                   const std::string& what) {
  const int64_t n = static_cast<int64_t>(values.size());
  Tensor both = empty({2 * n}, {.dtype = DType::i64, .device = Device()});  // host: fingerprints go over MPI
  int64_t* data = both.data_ptr<int64_t>();
  for (int64_t i = 0; i < n; ++i) {
    data[i] = values[i];
    data[n + i] = -values[i];
  }
  comm.allreduce(both, ReduceOp::max, {what})->wait();
  std::vector<int64_t> max(data, data + n), min(n);
  for (int64_t i = 0; i < n; ++i) min[i] = -data[n + i];
  return {max, min};
}

// Every rank's `text` (cut to kDescriptionBytes - 1 bytes), indexed by rank.
std::vector<std::string> gather_text(Communicator& comm, const std::string& text, const std::string& what) {
  const int64_t words = kDescriptionBytes / 8;
  Tensor rows = zeros({comm.size() * words}, {.dtype = DType::i64, .device = Device()});
  char* bytes = reinterpret_cast<char*>(rows.data_ptr<int64_t>());
  std::memcpy(bytes + comm.rank() * kDescriptionBytes, text.data(),
              std::min<size_t>(text.size(), kDescriptionBytes - 1));
  comm.allreduce(rows, ReduceOp::sum, {what})->wait();
  std::vector<std::string> texts;
  for (int r = 0; r < comm.size(); ++r) texts.emplace_back(bytes + r * kDescriptionBytes);
  return texts;
}

}  // namespace

std::vector<std::string> describe_model(const nn::Module& module) {
  std::vector<std::string> entries;
  auto describe = [&](const char* kind, const std::string& name, const Tensor& t) {
    std::ostringstream out;
    out << kind << " '" << name << "' " << shape_str(t.shape()) << " " << dtype_name(t.dtype());
    entries.push_back(out.str());
  };
  for (const auto& [name, tensor] : module.named_parameters())
    describe(tensor.requires_grad() ? "parameter" : "frozen parameter", name, tensor);
  for (const auto& [name, tensor] : module.named_buffers()) describe("buffer", name, tensor);
  return entries;
}

void check_same_on_all_ranks(Communicator& comm, const std::vector<std::string>& entries, const std::string& what,
                             const std::string& advice) {
  const std::string tag = what + ": fingerprint";
  int64_t combined = static_cast<int64_t>(entries.size());
  for (const std::string& entry : entries) combined = hash_entry(std::to_string(combined) + "\n" + entry);
  const auto [max, min] = max_and_min(comm, {static_cast<int64_t>(entries.size()), combined}, tag);
  if (max == min) return;

  // Some rank differs: find the first entry whose hash is not the same everywhere.
  const int64_t count = max[0];
  std::vector<int64_t> hashes(count, kAbsent);
  for (size_t i = 0; i < entries.size(); ++i) hashes[i] = hash_entry(entries[i]);
  const auto [entry_max, entry_min] = max_and_min(comm, hashes, tag);
  int64_t first = 0;
  while (first < count && entry_max[first] == entry_min[first]) ++first;
  const std::string mine = first < static_cast<int64_t>(entries.size())
                               ? entries[first]
                               : "nothing (only " + std::to_string(entries.size()) + " entries)";
  const std::vector<std::string> all = gather_text(comm, mine, tag);

  std::ostringstream message;
  message << what << " differs across ranks: first difference at entry #" << first
          << " (registration order): rank 0 has " << all[0];
  int listed = 0;
  for (int r = 1; r < comm.size() && listed < 4; ++r) {
    if (all[r] == all[0]) continue;
    message << "; rank " << r << " has " << all[r];
    ++listed;
  }
  message << ". " << advice;
  TESSERA_THROW(message.str());
}

}  // namespace tessera::dist
