#pragma once
// Umbrella header of tessera::dist: start-up (bootstrap.h), collectives (communicator.h) and data parallelism
// (ddp.h, with the reducer, bucket assignment and model fingerprint it is built from).
//
//   const auto& world = dist::init();                       // MPI, rank, local rank, GPU, CPU threads
//   auto comm = dist::make_communicator();                  // mpi on CPU ranks, nccl on GPU ranks
//   dist::DistributedDataParallel model(net, comm, {.bucket_cap_mb = 25});
//   ... train `model` as usual: gradients are averaged over all ranks when backward returns.
#include "distributed/bootstrap.h"
#include "distributed/bucket_assignment.h"
#include "distributed/communicator.h"
#include "distributed/data_parallel_context.h"
#include "distributed/ddp.h"
#include "distributed/model_fingerprint.h"
#include "distributed/reducer.h"
