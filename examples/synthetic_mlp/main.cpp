// A program using an installed Tessera (examples/README.md): a Keras-level MLP learns ten classes of synthetic
// 8x8 "images" (a fixed random pattern per class plus strong noise), is scored on held-out samples, saved as a
// checkpoint and loaded into a fresh model, which must score the same. Runs alone, or data-parallel under
// `mpirun -n N` (rank 0 prints and writes the checkpoint).
//   synthetic_mlp [CHECKPOINT.h5]   (default synthetic_mlp.h5)
#include <cstdio>
#include <exception>
#include <iostream>
#include <memory>
#include <string>

#include "core/core.h"
#include "core/model/model.h"
#include "distributed/data_parallel_context.h"
#include "io/training/checkpoint.h"

using namespace tessera;

namespace {

constexpr int64_t kClasses = 10;

struct Samples {
  Tensor x;  // f32 (n, 1, 8, 8)
  Tensor y;  // i64 (n)
};

// n samples of random classes: each its class's pattern plus N(0, 2^2) noise per pixel.
Samples make_samples(const Tensor& patterns, int64_t n, Generator& gen) {
  Tensor y = randint(0, kClasses, {n}, gen);
  return {index_select(patterns, 0, y) + 2.0 * randn({n, 1, 8, 8}, gen), y};
}

const char* kLayers = R"([{"type": "flatten"}, {"type": "linear", "out_features": 64}, {"type": "relu"},
                          {"type": "linear", "out_features": 10}])";

model::CompileOptions compile_options() {
  return {.optimizer = model::adamw({.lr = 1e-3}), .loss = "cross_entropy", .metrics = {"accuracy"}};
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const std::string checkpoint_path = argc > 1 ? argv[1] : "synthetic_mlp.h5";
    Generator gen(7);  // a fixed seed: every rank makes the same data
    Tensor patterns = randn({kClasses, 1, 8, 8}, gen);
    Samples train = make_samples(patterns, 2048, gen);
    Samples test = make_samples(patterns, 512, gen);
    auto parallel = std::make_shared<dist::DataParallelContext>();  // data-parallel under mpirun, alone otherwise
    // Each rank reads its share (every world_size-th sample, as PyTorch's DistributedSampler): 64 per rank a step.
    const int64_t world = parallel->size(), rank = parallel->rank();
    model::TensorBatchSource train_batches(train.x, train.y,
                                           {.batch_size = 64, .seed = 1, .world_size = world, .rank = rank});
    model::TensorBatchSource test_batches(test.x, test.y,
                                          {.batch_size = 256, .shuffle = false, .world_size = world, .rank = rank});
    model::Model net(nlohmann::json::parse(kLayers), parallel);
    net.compile(compile_options());
    model::History history = net.fit(train_batches, {.epochs = 5});
    const double accuracy = net.evaluate(test_batches).at("accuracy");
    if (!parallel->is_main()) return 0;

    std::cout << net.summary();
    std::printf("training loss: %.4f after epoch 1, %.4f after epoch %zu\n", history.epochs.front().at("loss"),
                history.epochs.back().at("loss"), history.epochs.size());
    std::printf("test accuracy: %.4f (chance: %.4f)\n", accuracy, 1.0 / kClasses);

    io::save_checkpoint(checkpoint_path,
                        {.model = net.module().state_dict(), .step = net.step(), .epoch = net.epoch()});
    // Rank 0 alone, so over every test sample (world_size 1): test_batches holds only rank 0's share.
    model::TensorBatchSource all_test(test.x, test.y, {.batch_size = 256, .shuffle = false, .world_size = 1});
    model::Model reloaded(nlohmann::json::parse(kLayers));
    reloaded.build(all_test.sample_shape());
    reloaded.module().load_state_dict(io::load_checkpoint(checkpoint_path).model);
    reloaded.compile(compile_options());
    std::printf("reloaded from %s: test accuracy %.4f\n", checkpoint_path.c_str(),
                reloaded.evaluate(all_test).at("accuracy"));
    return 0;
  } catch (const std::exception& error) {
    std::cerr << "synthetic_mlp: " << error.what() << "\n";
    return 1;
  }
}
