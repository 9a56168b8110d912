// `tessera data fashion-mnist|from-npy|from-csv|from-images|inspect ...`: data set conversion and inspection
// (io/convert, io/inspect); the converters of users' data are in data_convert.cpp.
#include <hdf5.h>

#include <boost/program_options.hpp>
#include <iostream>

#include "core/check.h"
#include "io/convert/fashion_mnist.h"
#include "io/convert/shard_writer.h"
#include "io/inspect.h"
#include "launch/cli/commands.h"
#include "launch/cli/data_convert.h"
#include "launch/cli/flags.h"

namespace tessera::cli {

namespace po = boost::program_options;

namespace {

int run_fashion_mnist(const std::vector<std::string>& args) {
  io::FashionMnistOptions options;
  std::string compression;
  po::options_description flags("usage: tessera data fashion-mnist --out DIR --shards N [options]");
  flags.add_options()("help,h", "this help")  //
      ("source", po::value(&options.source_dir)->default_value(io::kFashionMnistDefaultSource),
       "directory of the idx .gz files (Debian package dataset-fashion-mnist)");
  add_shard_flags(flags, options.output, compression, /*shards_required=*/true);
  const auto values = parse_flags("data fashion-mnist", args, flags);
  if (values.count("help")) {
    std::cout << flags;
    return 0;
  }
  apply_compression(compression, options.output);
  if (launcher_rank() > 0) return 0;  // under mpirun/srun one rank writes; the others would race on the files
  H5dont_atexit();  // as in data_convert.cpp: a shard HDF5 could not close (disk full) must not crash the exit
  // Here, not in convert_fashion_mnist: `bench loader` converts into folders of its own, by the shard names it asks.
  std::vector<std::string> names = io::shard_names("train", options.output.shards);
  for (std::string& file : io::shard_names("test", options.output.shards)) names.push_back(std::move(file));
  io::check_no_other_shards(options.output.out_dir, names);
  print_shards(io::convert_fashion_mnist(options));
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
  if (files.empty()) throw_usage_error("data inspect: no file given (usage: tessera data inspect FILE...)");
  for (const std::string& file : files) std::cout << io::format_summary(io::inspect_file(file));
  return 0;
}

}  // namespace

int run_data(const std::vector<std::string>& args) {
  if (args.empty() || args[0] == "--help" || args[0] == "-h") {
    std::cout << "usage: tessera data <command> [options]\n\n"
                 "  fashion-mnist\tconvert Fashion-MNIST's idx files into sharded HDF5 (x u8 N,1,28,28; y i64)\n"
                 "  from-npy\tX.npy Y.npy, or FILE.npz (keys x, y), into sharded HDF5 as stored\n"
                 "  from-csv\ta CSV file with a header row; --label COLUMN is y, the other columns x (f32)\n"
                 "  from-images\tDIR/<class>/*.png|jpg into x u8 N,C,H,W (bilinear --size HxW) and y i64\n"
                 "  inspect\tprint each dataset's shape, dtype, layout, chunking, filters and attributes\n";
    return args.empty() ? 2 : 0;
  }
  const std::vector<std::string> rest(args.begin() + 1, args.end());
  if (args[0] == "fashion-mnist") return run_fashion_mnist(rest);
  if (args[0] == "from-npy") return run_from_npy(rest);
  if (args[0] == "from-csv") return run_from_csv(rest);
  if (args[0] == "from-images") return run_from_images(rest);
  if (args[0] == "inspect") return run_inspect(rest);
  throw_usage_error("data: unknown command '", args[0], "' (expected fashion-mnist, from-npy, from-csv, from-images or inspect)");
}

}  // namespace tessera::cli
