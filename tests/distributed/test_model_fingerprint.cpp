// describe_model, the per-rank half of DistributedDataParallel's fingerprint (the cross-rank half runs under mpirun in
// mpi_test_ddp_safety.cpp): one entry per parameter, then per buffer, in the module's own listing order, each naming
// kind, dotted name, shape and dtype, so that any difference between two ranks' models changes some entry.
#include <gtest/gtest.h>

#include "core/nn/nn.h"
#include "distributed/model_fingerprint.h"

namespace tessera::dist {
namespace {

std::shared_ptr<nn::Sequential> make_net(int64_t hidden, DType dtype = DType::f32) {
  auto net = std::make_shared<nn::Sequential>(nn::Linear(4, hidden), nn::BatchNorm1d(hidden), nn::Linear(hidden, 2));
  if (dtype != DType::f32) net->to(dtype);
  return net;
}

TEST(ModelFingerprint, ListsParametersThenBuffersInRegistrationOrder) {
  auto net = make_net(3);
  net->named_parameters()[0].second.requires_grad_(false);
  const std::vector<std::string> entries = describe_model(*net);
  const auto params = net->named_parameters();
  const auto buffers = net->named_buffers();
  ASSERT_EQ(entries.size(), params.size() + buffers.size());
  for (size_t i = 0; i < params.size(); ++i) {
    const Tensor& t = params[i].second;
    EXPECT_EQ(entries[i], std::string(i == 0 ? "frozen parameter '" : "parameter '") + params[i].first + "' " +
                              shape_str(t.shape()) + " " + dtype_name(t.dtype()));
  }
  for (size_t i = 0; i < buffers.size(); ++i) {
    const Tensor& t = buffers[i].second;
    EXPECT_EQ(entries[params.size() + i],
              "buffer '" + buffers[i].first + "' " + shape_str(t.shape()) + " " + dtype_name(t.dtype()));
  }
}

TEST(ModelFingerprint, EveryKindOfDifferenceChangesAnEntry) {
  const auto base = describe_model(*make_net(3));
  EXPECT_NE(describe_model(*make_net(5)), base) << "shape";
  EXPECT_NE(describe_model(*make_net(3, DType::f64)), base) << "dtype";
  auto frozen = make_net(3);
  frozen->parameters()[1].requires_grad_(false);
  EXPECT_NE(describe_model(*frozen), base) << "trainable or not";
  EXPECT_EQ(describe_model(*make_net(3)), base) << "same model, other weights";
}

}  // namespace
}  // namespace tessera::dist
