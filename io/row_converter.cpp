#include "io/row_converter.h"

#include <cstring>
#include <type_traits>

namespace tessera::io {

RowConverter::RowConverter(const ArraySpec& spec, const Shape& stored_sample, ImageLayout layout)
    : to_(spec.dtype), channels_last_(layout == ImageLayout::nhwc) {
  const Shape sample_shape = model_sample_shape(stored_sample, layout);
  const int64_t numel = shape_numel(sample_shape);
  channels_ = sample_shape.empty() ? 1 : sample_shape[0];
  inner_ = channels_ == 0 ? 0 : numel / channels_;
  identity_ = spec.scale == 1.0 && spec.mean.empty() && spec.std.empty();
  for (int64_t c = 0; c < channels_; ++c) {
    const double mean = spec.mean.empty() ? 0.0 : spec.mean[spec.mean.size() == 1 ? 0 : c];
    const double std = spec.std.empty() ? 1.0 : spec.std[spec.std.size() == 1 ? 0 : c];
    multiplier_.push_back(spec.scale / std);
    offset_.push_back(-mean / std);
  }
}

bool RowConverter::passes_through(h5::ElementType from) const {
  if (!identity_ || channels_last_) return false;
  switch (to_) {
    case DType::u8: return from == h5::ElementType::u8;
    case DType::i32: return from == h5::ElementType::i32;
    case DType::i64: return from == h5::ElementType::i64;
    case DType::f32: return from == h5::ElementType::f32;
    case DType::f64: return from == h5::ElementType::f64;
    default: return false;
  }
}

void RowConverter::convert(h5::ElementType from, const void* src, void* dst,
                           const std::vector<std::pair<int64_t, int64_t>>& moves) const {
  const int64_t row = channels_ * inner_;
  h5::dispatch_staging(from, [&]<typename S>() {
    dispatch_all(to_, "Loader", [&]<typename D>() {
      const S* in = static_cast<const S*>(src);
      D* out = static_cast<D*>(dst);
      // f64 results are computed in double; every other result in float, like a float32 model would.
      using A = std::conditional_t<std::is_same_v<D, double>, double, float>;
      for (const auto& [from_row, to_row] : moves) {
        const S* s = in + from_row * row;
        D* d = out + to_row * row;
        if (channels_last_) {  // s[p * C + c] -> d[c * inner + p]
          for (int64_t p = 0; p < inner_; ++p) {
            for (int64_t c = 0; c < channels_; ++c) {
              const S value = s[p * channels_ + c];
              d[c * inner_ + p] = identity_ ? static_cast<D>(value)
                                            : static_cast<D>(static_cast<A>(value) * static_cast<A>(multiplier_[c]) +
                                                             static_cast<A>(offset_[c]));
            }
          }
          continue;
        }
        if constexpr (std::is_same_v<S, D>) {
          if (identity_) {
            std::memcpy(d, s, static_cast<size_t>(row) * sizeof(D));
            continue;
          }
        }
        if (identity_) {
          for (int64_t i = 0; i < row; ++i) d[i] = static_cast<D>(s[i]);
          continue;
        }
        for (int64_t c = 0; c < channels_; ++c) {
          const A m = static_cast<A>(multiplier_[c]), o = static_cast<A>(offset_[c]);
          const S* sc = s + c * inner_;
          D* dc = d + c * inner_;
          for (int64_t i = 0; i < inner_; ++i) dc[i] = static_cast<D>(static_cast<A>(sc[i]) * m + o);
        }
      }
    });
  });
}

}  // namespace tessera::io
