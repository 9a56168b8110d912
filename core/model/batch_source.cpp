#include "core/model/batch_source.h"

#include <algorithm>
#include <numeric>

#include "core/check.h"
#include "core/ops.h"

namespace tessera::model {

TensorBatchSource::TensorBatchSource(Tensor x, Tensor y, TensorBatchSourceOptions options)
    : x_(std::move(x)), y_(std::move(y)), options_(options) {
  TESSERA_CHECK(x_.dim() >= 1 && y_.dim() >= 1 && x_.size(0) == y_.size(0), "TensorBatchSource: x ",
                x_.str(), " and y ", y_.str(), " must have the same first dimension");
  TESSERA_CHECK(options_.batch_size > 0, "TensorBatchSource: batch_size must be positive");
  set_epoch(0);
}

void TensorBatchSource::set_epoch(int64_t epoch) { reorder(epoch, options_.shuffle); }

void TensorBatchSource::start_in_order() { reorder(0, /*shuffle=*/false); }

void TensorBatchSource::reorder(int64_t epoch, bool shuffle) {
  epoch_ = epoch;
  position_ = 0;
  std::vector<int64_t> order(x_.size(0));
  std::iota(order.begin(), order.end(), 0);
  if (shuffle) {
    Generator gen(options_.seed * 1000003ULL + static_cast<uint64_t>(epoch));
    for (size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[gen.next_u64() % i]);  // Fisher-Yates
  }
  order_ = tensor(order, {}, TensorOptions{.dtype = DType::i64, .device = x_.device()});  // where x is, not the default
}

std::optional<Batch> TensorBatchSource::next() {
  const int64_t start = position_ * options_.batch_size;
  if (start >= x_.size(0)) return std::nullopt;
  const int64_t count = std::min(options_.batch_size, x_.size(0) - start);
  ++position_;
  const Tensor rows = order_.narrow(0, start, count);
  return Batch{index_select(x_, 0, rows), index_select(y_, 0, rows.to(y_.device())), Tensor()};
}

int64_t TensorBatchSource::batches_per_epoch() const {
  return (x_.size(0) + options_.batch_size - 1) / options_.batch_size;
}

Shape TensorBatchSource::sample_shape() const { return Shape(x_.shape().begin() + 1, x_.shape().end()); }

void TensorBatchSource::load_state(const nlohmann::json& state) {
  set_epoch(state.at("epoch").get<int64_t>());
  position_ = state.at("position").get<int64_t>();
}

}  // namespace tessera::model
