// The README's Keras-level snippet, compiled and run as written (one process: the data-parallel context is then a
// no-op), so the documentation cannot drift from the API.
#include <gtest/gtest.h>

#include <iostream>

#include "core/core.h"
#include "core/model/model.h"
#include "distributed/data_parallel_context.h"

namespace tessera {
namespace {

TEST(ReadmeKerasTour, RunsAsWritten) {
  Generator gen(3);
  Tensor labels = randint(0, 10, {256}, gen);
  Tensor images = randn({256, 1, 4, 4}, gen) + labels.to(DType::f32).reshape({256, 1, 1, 1});  // learnable

  model::Model net(nlohmann::json::parse(R"([{"type": "flatten"}, {"type": "linear", "out_features": 10}])"),
                   std::make_shared<dist::DataParallelContext>());   // data-parallel under mpirun, alone otherwise
  net.compile({.optimizer = model::adamw({.lr = 1e-3}), .loss = "cross_entropy", .metrics = {"accuracy"}});
  model::TensorBatchSource train(images, labels, {.batch_size = 64});  // or an io::LoaderBatchSource over HDF5 shards
  net.fit(train, {.epochs = 5, .callbacks = {std::make_shared<model::ProgressBar>()}});
  std::cout << net.summary();

  EXPECT_EQ(net.step(), 20);
  EXPECT_EQ(net.module().num_parameters(), 16 * 10 + 10);
}

}  // namespace
}  // namespace tessera
