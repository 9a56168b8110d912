#pragma once
// `tessera data from-npy|from-csv|from-images`: users' data into sharded HDF5 (io/convert), and the output flags
// every converter shares (--out, --shards, --chunk-rows, --compression), also used by `data fashion-mnist`.
#include <boost/program_options.hpp>
#include <string>
#include <vector>

#include "io/convert/shard_writer.h"

namespace tessera::cli {

// Adds --out, --shards, --chunk-rows and --compression writing into `options` and `compression` (gzip or none, checked
// while parsing); call apply_compression after parsing.
void add_shard_flags(boost::program_options::options_description& flags, io::ShardOptions& options,
                     std::string& compression, bool shards_required);
void apply_compression(const std::string& compression, io::ShardOptions& options);

// This process's rank from the launcher's environment (Open MPI, PMI, SLURM), 0 when not launched as a job; read
// directly so that converting data does not need MPI. Under mpirun only rank 0 writes.
int launcher_rank();

// One line per shard written: path, split and sample range.
void print_shards(const std::vector<io::ConvertedShard>& shards);

int run_from_npy(const std::vector<std::string>& args);
int run_from_csv(const std::vector<std::string>& args);
int run_from_images(const std::vector<std::string>& args);

}  // namespace tessera::cli
