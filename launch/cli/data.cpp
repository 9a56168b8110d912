// `tessera data fashion-mnist|inspect ...`: data set conversion and inspection (io/convert, io/inspect).
#include <boost/program_options.hpp>
#include <cstdlib>
#include <iostream>

#include "core/check.h"
#include "io/convert/fashion_mnist.h"
#include "io/inspect.h"
#include "launch/cli/commands.h"
#include "launch/cli/flags.h"

namespace tessera::cli {

namespace po = boost::program_options;

namespace {

// This process's rank from the launcher's environment (Open MPI, PMI, SLURM), 0 when not launched as a job; read
// directly so that converting data does not need MPI.
int launcher_rank() {
  for (const char* name : {"OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK", "SLURM_PROCID"}) {
    if (const char* value = std::getenv(name)) return std::atoi(value);
  }
  return 0;
}

int run_fashion_mnist(const std::vector<std::string>& args) {
  io::FashionMnistOptions options;
  std::string compression = "gzip";
  po::options_description flags("usage: tessera data fashion-mnist --out DIR --shards N [options]");
  flags.add_options()("help,h", "this help")                                                   //
      ("out", po::value(&options.out_dir)->required(), "output directory")                      //
      ("shards", at_least(&options.shards, 1, "--shards")->required(), "files per split (train and test)")  //
      ("compression", po::value(&compression)->default_value("gzip"), "gzip or none")          //
      ("source", po::value(&options.source_dir)->default_value(io::kFashionMnistDefaultSource),
       "directory of the idx .gz files (Debian package dataset-fashion-mnist)")  //
      ("chunk-rows", at_least(&options.chunk_rows, 1, "--chunk-rows")->default_value(256), "samples per HDF5 chunk");
  const auto values = parse_flags("data fashion-mnist", args, flags);
  if (values.count("help")) {
    std::cout << flags;
    return 0;
  }
  TESSERA_CHECK(compression == "gzip" || compression == "none", "data fashion-mnist: --compression must be gzip or none, got '",
                compression, "'");
  options.gzip = compression == "gzip";
  if (launcher_rank() > 0) return 0;  // under mpirun/srun one rank writes; the others would race on the files
  for (const auto& shard : io::convert_fashion_mnist(options))
    std::cout << shard.path << "  " << shard.split << " samples " << shard.first << ".." << shard.first + shard.rows
              << "\n";
  return 0;
}

int run_inspect(const std::vector<std::string>& args) {
  std::vector<std::string> files;
  po::options_description flags("usage: tessera data inspect FILE...");
  flags.add_options()("help,h", "this help")("file", po::value(&files), "HDF5 files");
  po::positional_options_description positional;
  positional.add("file", -1);
  const auto values = parse_flags("data inspect", args, flags, positional);
  if (values.count("help")) {
    std::cout << flags;
    return 0;
  }
  TESSERA_CHECK(!files.empty(), "data inspect: no file given (usage: tessera data inspect FILE...)");
  for (const std::string& file : files) std::cout << io::format_summary(io::inspect_file(file));
  return 0;
}

}  // namespace

int run_data(const std::vector<std::string>& args) {
  if (args.empty() || args[0] == "--help" || args[0] == "-h") {
    std::cout << "usage: tessera data <command> [options]\n\n"
                 "  fashion-mnist\tconvert Fashion-MNIST's idx files into sharded HDF5 (x u8 N,1,28,28; y i64)\n"
                 "  inspect\tprint each dataset's shape, dtype, layout, chunking, filters and attributes\n";
    return args.empty() ? 2 : 0;
  }
  const std::vector<std::string> rest(args.begin() + 1, args.end());
  if (args[0] == "fashion-mnist") return run_fashion_mnist(rest);
  if (args[0] == "inspect") return run_inspect(rest);
  TESSERA_THROW("data: unknown command '", args[0], "' (expected fashion-mnist or inspect)");
}

}  // namespace tessera::cli
