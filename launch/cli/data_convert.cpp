#include "launch/cli/data_convert.h"

#include <hdf5.h>

#include <cstdio>
#include <cstdlib>
#include <iostream>

#include "core/check.h"
#include "io/convert/from_csv.h"
#include "io/convert/from_images.h"
#include "io/convert/from_npy.h"
#include "launch/cli/flags.h"

namespace tessera::cli {

namespace po = boost::program_options;

void add_shard_flags(po::options_description& flags, io::ShardOptions& options, std::string& compression,
                     bool shards_required) {
  auto* shards = at_least(&options.shards, 1, "--shards");
  flags.add_options()                                                       //
      ("out", po::value(&options.out_dir)->required(), "output directory")  //
      ("shards", shards_required ? shards->required() : shards->default_value(1),
       "files per split (train and test)")                                                                            //
      ("chunk-rows", at_least(&options.chunk_rows, 1, "--chunk-rows")->default_value(256), "samples per HDF5 chunk")  //
      ("compression", one_of(&compression, {"gzip", "none"}, "--compression", "gzip or none")->default_value("gzip"),
       "gzip (deflate level 4) or none");
}

void apply_compression(const std::string& compression, io::ShardOptions& options) {
  options.gzip = compression == "gzip";
}

int launcher_rank() {
  for (const char* name : {"OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK", "SLURM_PROCID"}) {
    if (const char* value = std::getenv(name)) return std::atoi(value);
  }
  return 0;
}

void print_shards(const std::vector<io::ConvertedShard>& shards) {
  for (const auto& shard : shards)
    std::cout << shard.path << "  " << shard.split << " samples " << shard.first << ".." << shard.first + shard.rows
              << "\n";
}

namespace {

// The flags and the writing every converter of users' data shares: output and split flags, parsing, then (rank 0
// only) read the source and write train (and test) shards.
struct Converter {
  std::string command;
  po::options_description flags;
  po::positional_options_description positional;
  io::ShardOptions output;
  io::SplitOptions split;
  std::string compression;
  int64_t seed = 0;

  Converter(const std::string& name, const std::string& usage) : command("data " + name), flags(usage) {
    flags.add_options()("help,h", "this help");
    add_shard_flags(flags, output, compression, /*shards_required=*/false);
    flags.add_options()  //
        ("test-fraction", po::value(&split.test_fraction)->default_value(0.0),
         "share of the samples drawn at random (seeded) for test shards; 0: train only")  //
        ("seed", at_least(&seed, 0, "--seed")->default_value(0), "seed of the train/test split");
  }

  // False when --help was asked for (and printed).
  bool parse(const std::vector<std::string>& args) {
    const auto values = parse_flags(command, args, flags, positional);
    if (values.count("help")) {
      std::cout << flags;
      return false;
    }
    apply_compression(compression, output);
    split.seed = static_cast<uint64_t>(seed);
    return true;
  }

  template <class Read>
  int write(Read read) const {
    if (launcher_rank() > 0) return 0;  // under mpirun/srun one rank writes; the others would race on the files
    // Every file is closed before the process exits; a shard whose write failed (disk full) cannot be closed, and
    // HDF5's exit handler would crash on it (exit 139 after the error message).
    H5dont_atexit();
    print_shards(io::write_split_shards(output, split, read()));
    return 0;
  }
};

}  // namespace

int run_from_npy(const std::vector<std::string>& args) {
  Converter c("from-npy",
              "usage: tessera data from-npy X.npy Y.npy --out DIR [options]\n"
              "       tessera data from-npy FILE.npz --out DIR [--x-key x --y-key y] [options]");
  std::vector<std::string> inputs;
  io::NpySource source;
  std::string layout;
  c.flags.add_options()("input", po::value(&inputs), "X.npy Y.npy, or FILE.npz")    //
      ("x-key", po::value(&source.x_key)->default_value("x"), "x's key in a .npz")  //
      ("y-key", po::value(&source.y_key)->default_value("y"), "y's key in a .npz")  //
      ("layout", po::value(&layout),
       "nchw or nhwc: how a rank-4 x stores images (written as x's 'layout' "
       "attribute, read by data.layout auto)");
  c.positional.add("input", -1);
  if (!c.parse(args)) return 0;
  TESSERA_CHECK(inputs.size() == 1 || inputs.size() == 2, "data from-npy: give X.npy Y.npy or one FILE.npz, got ",
                inputs.size(), " input file(s)");
  source.x_path = inputs[0];
  if (inputs.size() == 2) source.y_path = inputs[1];
  if (!layout.empty()) {
    source.layout = io::parse_image_layout(layout, "data from-npy: --layout");
    TESSERA_CHECK(*source.layout != io::ImageLayout::automatic,
                  "data from-npy: --layout must be nchw or nhwc, got auto");
  }
  return c.write([&] { return io::read_npy_source(source); });
}

int run_from_csv(const std::vector<std::string>& args) {
  Converter c("from-csv", "usage: tessera data from-csv FILE.csv --label COLUMN --out DIR [options]");
  io::CsvSource source;
  c.flags.add_options()("file", po::value(&source.path)->required(), "the CSV file (a header row, then numbers)")  //
      ("label", po::value(&source.label)->required(), "the column holding y (by its name in the header)");
  c.positional.add("file", 1);
  if (!c.parse(args)) return 0;
  return c.write([&] { return io::read_csv_source(source); });
}

int run_from_images(const std::vector<std::string>& args) {
  Converter c("from-images",
              "usage: tessera data from-images DIR --size HxW --out DIR [options]\n"
              "  DIR/<class>/*.png|jpg|jpeg; classes are the subfolders in sorted order");
  io::ImageFolderSource source;
  std::string size;
  c.flags.add_options()("dir", po::value(&source.dir)->required(), "the image folder")  //
      ("size", po::value(&size),
       "HxW: resize every image bilinearly to this size (e.g. 64x64); default: the "
       "images' own, which must then be one size")  //
      ("channels", po::value(&source.channels)->default_value(0),
       "1 (grey) or 3 (RGB); 0: 1 when every image is "
       "grey, else 3");
  c.positional.add("dir", 1);
  if (!c.parse(args)) return 0;
  if (!size.empty()) {
    char x = 0, rest = 0;
    long long height = 0, width = 0;
    TESSERA_CHECK(std::sscanf(size.c_str(), "%lld%c%lld%c", &height, &x, &width, &rest) == 3 &&
                      (x == 'x' || x == 'X') && height > 0 && width > 0,
                  "data from-images: --size must be HxW with positive whole numbers (e.g. 64x64), got '", size, "'");
    source.height = height;
    source.width = width;
  }
  return c.write([&] { return io::read_image_folder(source); });
}

}  // namespace tessera::cli
