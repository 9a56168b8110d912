#pragma once
// The registry of `tessera` subcommands. Each returns the process exit code and throws tessera::Error on failure.
#include <functional>
#include <string>
#include <vector>

namespace tessera::cli {

struct Command {
  std::string name;
  std::string summary;
  std::function<int(const std::vector<std::string>& args)> run;
};

const std::vector<Command>& commands();

int print_version();  // version.cpp: `tessera --version`
int run_demo(const std::vector<std::string>& args);
int run_data(const std::vector<std::string>& args);   // data.cpp: `tessera data fashion-mnist|inspect ...`
int run_train(const std::vector<std::string>& args);     // train.cpp
int run_evaluate(const std::vector<std::string>& args);  // train.cpp
int run_predict(const std::vector<std::string>& args);   // predict.cpp
int run_export(const std::vector<std::string>& args);    // export.cpp
int run_bench(const std::vector<std::string>& args);  // bench.cpp: dispatches to the benchmarks below
int run_bench_loader(const std::vector<std::string>& args);     // bench_loader.cpp
int run_bench_allreduce(const std::vector<std::string>& args);  // bench_allreduce.cpp
int run_bench_ddp(const std::vector<std::string>& args);        // bench_ddp.cpp

}  // namespace tessera::cli
